"""Exchange and queue names. `prefix` is settings.bus_prefix: "" in production, per run in tests."""

from __future__ import annotations

# Our own AMQP headers. The attempt counter travels with a message through the retry queues.
ATTEMPT_HEADER = "x-majlis-attempt"
TENANT_HEADER = "x-majlis-tenant-id"
CORRELATION_HEADER = "x-majlis-correlation-id"
CAUSATION_HEADER = "x-majlis-causation-id"
HEADER_PREFIX = "x-majlis-"


def exchange_name(prefix: str) -> str:
    """The durable topic exchange every event is published to."""
    return f"{prefix}majlis.events"


def dead_letter_exchange_name(prefix: str) -> str:
    """The durable direct exchange that routes rejected messages to `<queue>.dlq`."""
    return f"{prefix}majlis.dlx"


def queue_name(prefix: str, name: str) -> str:
    """A consumer queue's full name, e.g. `inbox.events`."""
    return f"{prefix}{name}"


def dlq_name(prefix: str, name: str) -> str:
    """Where a queue's poison and exhausted messages wait for an operator."""
    return f"{prefix}{name}.dlq"


def retry_queue_name(prefix: str, name: str, attempt: int) -> str:
    """The delay queue a failed message waits in before retry number `attempt` (1-based)."""
    if attempt < 1:
        raise ValueError("retry attempts count from 1")
    return f"{prefix}{name}.retry.{attempt}"
