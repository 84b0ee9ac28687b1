"""Status webhooks applied to outbound messages, monotonically.

Rules (statuses arrive out of order and repeatedly; a `read` may come without `delivered`):
  * queued < sent < delivered < read; a status only ever moves a message forward, so a late
    `delivered` never overwrites `read`.
  * `played` (first play of a voice message) counts as `read`: it proves the same.
  * `failed` applies only to a message not yet known delivered (queued or sent), keeps Meta's
    error code and title, and is terminal for `sent`/`delivered`; a later `read` still wins,
    because it proves delivery (the error fields stay as a record of what Meta reported).
  * A status for a wamid no message has yet (the webhook overtook the send result) is kept in
    `pending_statuses` and applied by apply_pending_statuses() when the message gets its
    wamid; kept rows older than PENDING_TTL are purged (messages sent outside the platform).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from inbox import repository
from inbox.content import MAX_WAMID, sent_at
from inbox.repository import Conn, PendingStatus
from majlis.events import Envelope
from majlis.events.webhook_ingest import StatusReceived
from majlis.logging import get_logger

log = get_logger(__name__)

STATUS_NAMES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "read",
    "failed": "failed",
}
# Meta retries webhooks for 7 days; a send result later than that will not come.
PENDING_TTL = timedelta(days=7)
_MAX_TITLE = 200


def pending_status_of(raw: dict[str, Any], received_at: datetime) -> PendingStatus | None:
    """Our status (and error) for a Meta status item; None for a status we do not track."""
    name = STATUS_NAMES.get(str(raw.get("status")))
    if name is None:
        return None
    code: int | None = None
    title: str | None = None
    if name == "failed":
        errors = raw.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            value = first.get("code")
            code = value if isinstance(value, int) and not isinstance(value, bool) else None
            text = first.get("title") or first.get("message")
            title = text[:_MAX_TITLE] if isinstance(text, str) else None
    return PendingStatus(name, sent_at(raw.get("timestamp"), received_at), code, title)


async def record_status(conn: Conn, event: StatusReceived, envelope: Envelope) -> None:
    """Apply a status to its message, or keep it until the message is known."""
    wamid = event.status.get("id")
    if not isinstance(wamid, str) or not 0 < len(wamid) <= MAX_WAMID:
        log.warning("inbox.status_malformed")
        return
    status = pending_status_of(event.status, event.received_at)
    if status is None:
        log.info("inbox.status_ignored")
        return
    await repository.lock_wamid(conn, wamid)
    outcome = await repository.apply_status(
        conn, wamid, status.status, status.error_code, status.error_title
    )
    if outcome.found:
        log.info("inbox.status_applied", status=status.status, applied=outcome.applied)
        return
    await repository.purge_stale_pending_statuses(conn, PENDING_TTL)
    await repository.add_pending_status(conn, envelope.tenant_id, uuid4(), wamid, status)
    log.info("inbox.status_pending", status=status.status)
