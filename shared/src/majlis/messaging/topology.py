"""Declare (and, for tests, delete) the bus: exchanges, quorum queues, DLQs and retry queues.

Per consumer queue `<name>`:
  * `<name>`          quorum queue bound to the topic exchange; rejects go to the DLX.
  * `<name>.dlq`      quorum queue bound to the DLX with routing key `<name>`.
  * `<name>.retry.N`  one per retry delay, with a fixed `x-message-ttl`; expired messages are
    dead-lettered through the default exchange straight back to `<name>`. A fixed TTL per
    queue (rather than a per-message TTL) means a long delay never holds up a short one,
    because RabbitMQ only expires messages at the head of a queue.

Declaring is idempotent. A declaration whose arguments differ from the live queue fails with
PRECONDITION_FAILED: topology drift is an operator's decision, never silently "fixed".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel
from pamqp.common import FieldTable

from majlis.messaging.names import (
    dead_letter_exchange_name,
    dlq_name,
    exchange_name,
    queue_name,
    retry_queue_name,
)

# Safety net against crash loops: a message redelivered this often (its consumer died while
# holding it, again and again) is dead-lettered by the broker. Handler failures never count:
# they go through the retry queues, and redeliveries only happen when a consumer vanishes.
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class QueueSpec:
    """One consumer queue: its name (without prefix) and its topic binding patterns."""

    name: str
    bindings: tuple[str, ...]
    # Patterns this queue was once bound with: removed at declaration, so a bus declared by
    # an older release converges on today's routing.
    retired_bindings: tuple[str, ...] = ()


def _main_queue_arguments(prefix: str, spec: QueueSpec) -> FieldTable:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": dead_letter_exchange_name(prefix),
        "x-dead-letter-routing-key": queue_name(prefix, spec.name),
        "x-delivery-limit": DELIVERY_LIMIT,
    }


def _retry_queue_arguments(prefix: str, spec: QueueSpec, delay_ms: int) -> FieldTable:
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": delay_ms,
        # The default exchange routes by queue name, so the retry goes to this queue alone,
        # not to every queue bound to the event's routing key.
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue_name(prefix, spec.name),
    }


async def declare_topology(
    channel: AbstractChannel,
    prefix: str,
    queues: Sequence[QueueSpec],
    retry_delays_ms: Sequence[int],
) -> None:
    """Declare the exchanges and every queue of `queues`, with DLQs and retry queues.

    Retired bindings are removed last, once every queue's bindings exist: an event type that
    moves from one queue to another (statuses from inbox.events to inbox.statuses) always has a
    home while a newer release changes the topology.
    """
    if any(delay <= 0 for delay in retry_delays_ms):
        raise ValueError("retry delays must be positive")
    events = await channel.declare_exchange(
        exchange_name(prefix), aio_pika.ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(
        dead_letter_exchange_name(prefix), aio_pika.ExchangeType.DIRECT, durable=True
    )
    retiring = []
    for spec in queues:
        main = await channel.declare_queue(
            queue_name(prefix, spec.name),
            durable=True,
            arguments=_main_queue_arguments(prefix, spec),
        )
        for pattern in spec.bindings:
            await main.bind(events, routing_key=pattern)
        retiring.append((main, spec.retired_bindings))
        dlq = await channel.declare_queue(
            dlq_name(prefix, spec.name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dlx, routing_key=queue_name(prefix, spec.name))
        for attempt, delay_ms in enumerate(retry_delays_ms, start=1):
            await channel.declare_queue(
                retry_queue_name(prefix, spec.name, attempt),
                durable=True,
                arguments=_retry_queue_arguments(prefix, spec, delay_ms),
            )
    for main, patterns in retiring:
        for pattern in patterns:
            await main.unbind(events, routing_key=pattern)


async def delete_topology(
    channel: AbstractChannel,
    prefix: str,
    queues: Sequence[QueueSpec],
    retry_delays_ms: Sequence[int],
) -> None:
    """Delete what declare_topology declared (test clean-up; never run against production)."""
    for spec in queues:
        await channel.queue_delete(queue_name(prefix, spec.name))
        await channel.queue_delete(dlq_name(prefix, spec.name))
        for attempt in range(1, len(retry_delays_ms) + 1):
            await channel.queue_delete(retry_queue_name(prefix, spec.name, attempt))
    await channel.exchange_delete(exchange_name(prefix))
    await channel.exchange_delete(dead_letter_exchange_name(prefix))
