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
    Not kept: a status echoing a campaign's send (majlis.meta.callback), which is never an
    inbox message.
  * The dispatcher's results: `broadcast.message.sent` links the wamid and moves a queued or
    sending message to `sent` (then applies the kept statuses); `broadcast.message.failed`
    fails a message that is queued, sending or sent. Results of bulk sends (a campaign's) are
    skipped before this module (inbox.handlers), without a transaction.
Every move forward publishes `inbox.message.status_changed` (ids, status, error code only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from inbox import replies_repository, repository
from inbox.content import MAX_WAMID, sent_at
from inbox.replies_repository import MessageState
from inbox.repository import Conn, PendingStatus
from majlis.events import Envelope, caused_by
from majlis.events.broadcast import MessageFailed, MessageSent
from majlis.events.inbox import MessageStatusChanged
from majlis.events.webhook_ingest import StatusReceived
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox
from majlis.meta.callback import read_echo

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
_PUBLISHED = frozenset({"sending", "sent", "delivered", "read", "failed"})


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
        if outcome.applied:
            await publish_state(
                conn, envelope, await replies_repository.state_by_wamid(conn, wamid)
            )
        return
    echo = read_echo(event.status.get("biz_opaque_callback_data"))
    if echo is not None and not echo.interactive:
        # A campaign's send (it echoes its recipient's id bare): never an inbox message, so
        # nothing to keep for later (three statuses a recipient, kept for days, for nothing).
        # Campaigns count their statuses themselves. A send from before the tag existed that
        # is known here was found above.
        log.info("inbox.status_not_kept", status=status.status)
        return
    await repository.purge_stale_pending_statuses(conn, PENDING_TTL)
    await repository.add_pending_status(conn, envelope.tenant_id, uuid4(), wamid, status)
    log.info("inbox.status_pending", status=status.status)


async def record_sent(conn: Conn, event: MessageSent, envelope: Envelope) -> None:
    """Link the wamid Meta gave a message, mark it sent, then apply statuses that overtook it."""
    # Taken before the update, so a status webhook for this wamid waits and then finds it.
    await repository.lock_wamid(conn, event.wamid)
    outcome = await replies_repository.mark_sent(conn, event.message_id, event.wamid)
    if outcome is None:
        # Not an inbox message: a campaign's send (campaigns keep their recipients themselves)
        # whose result came without the bulk flag (published before it existed), so no
        # warning.
        log.info("inbox.message_sent", message_id=str(event.message_id), known=False)
        return
    state, moved = outcome
    if moved:
        await publish_state(conn, envelope, state)
    if await repository.apply_pending_statuses(conn, event.wamid):
        await publish_state(
            conn, envelope, await replies_repository.state_by_wamid(conn, event.wamid)
        )
    log.info("inbox.message_sent", message_id=str(event.message_id), moved=moved)


async def record_failed(conn: Conn, event: MessageFailed, envelope: Envelope) -> None:
    """Fail a message not yet known delivered, keeping the dispatcher's error code and title."""
    title = event.error_title[:_MAX_TITLE] if event.error_title else None
    state = await replies_repository.mark_failed(conn, event.message_id, event.error_code, title)
    if state is not None:
        await publish_state(conn, envelope, state)
    log.info(
        "inbox.message_failed",
        message_id=str(event.message_id),
        error_code=event.error_code,
        applied=state is not None,
    )


async def publish_state(conn: Conn, envelope: Envelope, state: MessageState | None) -> None:
    """Queue `inbox.message.status_changed` for where the message stands now."""
    if state is None or state.status not in _PUBLISHED:
        return
    changed = MessageStatusChanged(
        message_id=state.id,
        conversation_id=state.conversation_id,
        status=state.status,  # type: ignore[arg-type]  # checked against _PUBLISHED above
        error_code=state.error_code if state.status == "failed" else None,
    )
    await add_to_outbox(conn, caused_by(changed, envelope))
