"""Template status sync: Meta's `message_template_status_update` webhooks update our templates.

Once per event (processed_messages), and never backwards in time: a webhook whose entry time
is older than the status already applied is ignored, so a late redelivery of PENDING never
overwrites APPROVED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import asyncpg

from broadcast import templates_repository as repo
from majlis.events import Envelope, Event, make_envelope
from majlis.events.broadcast import BroadcastAuditRecorded, TemplateUpdated
from majlis.events.webhook_ingest import TemplateStatusReceived
from majlis.logging import get_logger
from majlis.messaging import Handler, add_to_outbox, idempotent

log = get_logger(__name__)
CONSUMER = "broadcast.templates"
_STATUS_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def _status(value: dict[str, Any]) -> str | None:
    event = value.get("event")
    if isinstance(event, str) and 0 < len(event) <= 40 and set(event) <= _STATUS_CHARS:
        return event
    return None


def _reason(value: dict[str, Any]) -> str | None:
    """Meta's reason code (REJECTED), else the pause title (PAUSED); NONE means none."""
    reason = value.get("reason")
    if isinstance(reason, str) and reason and reason != "NONE":
        return reason[:500]
    other = value.get("other_info")
    title = other.get("title") if isinstance(other, dict) else None
    return title[:500] if isinstance(title, str) and title else None


def _meta_id(value: dict[str, Any]) -> str | None:
    raw = value.get("message_template_id")
    if isinstance(raw, bool):
        return None
    text = str(raw) if isinstance(raw, int | str) else ""
    return text if text.isdigit() else None


async def apply_template_status(
    conn: asyncpg.Connection[Any], event: Event, envelope: Envelope
) -> None:
    """Apply one status webhook inside the claiming transaction."""
    received = cast(TemplateStatusReceived, event)
    value = received.value
    status, name, language = (
        _status(value),
        value.get("message_template_name"),
        value.get("message_template_language"),
    )
    if status is None or not isinstance(name, str) or not isinstance(language, str):
        log.warning("template.status.malformed", event_id=str(envelope.id))
        return
    row = await repo.for_webhook(conn, received.waba_id, name, language, _meta_id(value))
    if row is None:
        log.info("template.status.unknown", event_id=str(envelope.id))
        return
    entry_time = received.entry_time or int(received.received_at.timestamp())
    if row["status_entry_time"] is not None and entry_time < row["status_entry_time"]:
        log.info("template.status.stale", template_id=str(row["id"]), status=status)
        return
    reason = _reason(value)
    await repo.apply_status(conn, row["id"], status, reason, entry_time)
    if status == row["status"] and reason == row["reason"]:
        return
    tenant_id = envelope.tenant_id
    updated = TemplateUpdated(template_id=row["id"], status=status)
    await add_to_outbox(conn, make_envelope(updated, tenant_id=tenant_id))
    audit = BroadcastAuditRecorded(
        action="templates.status.changed",
        actor_type="system",
        target_type="template",
        target_id=str(row["id"]),
        details={"status": status, "previous": row["status"], "reason": reason},
        changes=["status"],
    )
    await add_to_outbox(conn, make_envelope(audit, tenant_id=tenant_id))
    log.info("template.status.changed", template_id=str(row["id"]), status=status)


def on_template_status(pool: Callable[[], asyncpg.Pool[Any]]) -> Handler:
    """The `webhook_ingest.template_status.received` handler (pool read once started)."""

    async def handle(event: Event, envelope: Envelope) -> None:
        await idempotent(pool(), CONSUMER, apply_template_status)(event, envelope)

    return handle


HANDLED = (TemplateStatusReceived.routing_key,)
