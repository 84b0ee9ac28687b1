"""Handlers of the `audit.events` queue, one table: event type -> handler.

The queue binds `#`; every other event type arriving there has no handler and is acked.
"""

from __future__ import annotations

from collections.abc import Callable

from audit.appender import ChainAppender
from audit.chain import entry_from_event
from majlis.events import Envelope, Event
from majlis.events.gateway import AuditRecorded
from majlis.messaging import Handler


def bind_handlers(appender: Callable[[], ChainAppender]) -> dict[str, Handler]:
    """The handler table; `appender` is read per message, once the app has started."""

    async def on_audit_recorded(event: Event, envelope: Envelope) -> None:
        assert isinstance(event, AuditRecorded)  # dispatched by type
        # Idempotent without processed_messages: the append skips an event id already in the
        # chain, checked under the per-tenant head lock. The message is acked after commit.
        await appender().append(entry_from_event(event, envelope))

    return {AuditRecorded.routing_key: on_audit_recorded}
