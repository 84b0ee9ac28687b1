"""Handlers of the `audit.events` queue, one table: event type -> handler.

The queue binds `*.audit.recorded`: the audit events of every producer.
"""

from __future__ import annotations

from collections.abc import Callable

from audit.appender import ChainAppender
from audit.chain import entry_from_event
from majlis.events import Envelope, Event
from majlis.events.broadcast import BroadcastAuditRecorded
from majlis.events.chatflow import ChatflowAuditRecorded
from majlis.events.gateway import AuditRecorded
from majlis.events.inbox import InboxAuditRecorded
from majlis.messaging import Handler


def bind_handlers(appender: Callable[[], ChainAppender]) -> dict[str, Handler]:
    """The handler table; `appender` is read per message, once the app has started."""

    async def on_audit_recorded(event: Event, envelope: Envelope) -> None:
        assert isinstance(event, AuditRecorded)  # dispatched by type
        # Idempotent without processed_messages: the append skips an event id already in the
        # chain, checked under the per-tenant head lock. The message is acked after commit.
        await appender().append(entry_from_event(event, envelope))

    # Every producer's audit event has the same shape (InboxAuditRecorded,
    # BroadcastAuditRecorded and ChatflowAuditRecorded subclass it).
    return {
        AuditRecorded.routing_key: on_audit_recorded,
        InboxAuditRecorded.routing_key: on_audit_recorded,
        BroadcastAuditRecorded.routing_key: on_audit_recorded,
        ChatflowAuditRecorded.routing_key: on_audit_recorded,
    }
