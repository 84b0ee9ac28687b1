"""The WhatsApp Business app's chat history, for a number shared with the app (coexistence).

When the business agreed to share it, Meta sends the app's chats of the 180 days before the
number was onboarded as `history` webhooks: chunks of threads (one per customer), newest phase
first and chunks in any order, media as placeholders whose content follows in webhooks of
their own. Each thread is imported here so the team sees what was said before Majlis:

- into the customer's latest conversation on the number (found by the blind index of their
  number; the contact is created if it is new), or, for a customer without one, a conversation
  of its own that is created resolved (history never fills the open inbox or reorders it by
  six-month-old activity);
- each message once (unique per tenant and wamid, like live ones: a message that also came
  live, or a redelivered chunk, is not stored twice), encrypted, as the customer's or as the
  business's from the app (`sender_kind` "business_app"), at its own time, with its last
  status (SENT, DELIVERED, READ, PLAYED as read, ERROR as failed, PENDING as sent);
- ordered before every live message: history predates onboarding, and its chunks arrive in
  any order, so its messages take sequence numbers below zero derived from their time (live
  ones count up from 1) and a thread reads in time order however it arrived;
- a media placeholder gets its content (type, caption, the file to download) when the
  webhook describing it comes, before or after the placeholder.

What history never does: open the 24-hour window, count as unread, reopen or reassign a
conversation, reach the bots, or count in analytics and outbound webhooks as today's messages
(it announces nothing but a new contact). Runs inside the idempotent consumer's transaction.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import uuid4

import orjson

from inbox import media_repository, replies_repository, repository
from inbox.content import SenderIdentity, e164, media_ref, message_type, wamid_of
from inbox.conversation_opening import latest_conversation_for_update, lock_contact_number
from inbox.deps import InboxDeps
from inbox.inbound import BODY_FIELD, erasure_of, find_or_create_contact, note_coexistence
from inbox.repository import Conn
from majlis.events import Envelope
from majlis.events.webhook_ingest import HistoryReceived
from majlis.logging import get_logger

log = get_logger(__name__)

PLACEHOLDER: Final = "media_placeholder"
# Meta shares 180 days; a timestamp outside this (or in the future) is not believed.
_OLDEST = timedelta(days=200)
_NEWEST = timedelta(days=1)
# History seqs: from -(2**53 - 1) up, by second (and place): far below zero, yet exact in a
# JavaScript number (the dashboard and API clients sort and page by seq).
_SEQ_BASE: Final = -(2**53 - 1)
_OUTBOUND_STATUS: Final = {
    "SENT": "sent",
    "DELIVERED": "delivered",
    "READ": "read",
    "PLAYED": "read",
    "ERROR": "failed",
    "PENDING": "sent",
}
# Who and when live in columns or are the contact; the last status is a column too.
_NOT_CONTENT = frozenset(
    {"from", "to", "to_user_id", "from_user_id", "id", "timestamp", "history_context"}
)


def history_seq(moment: datetime, index: int, wamid: str) -> int:
    """A sequence number below every live message's, in time order (ties: the message's place
    in its thread, then its wamid)."""
    seconds = max(0, int(moment.timestamp()))
    tie = (min(index, 255) << 8) | (zlib.crc32(wamid.encode()) & 0xFF)
    return _SEQ_BASE + (seconds << 16) + tie


def last_seq_of_second(seq: int) -> int:
    """The last history seq of the second `seq` belongs to (where a taken seq's search for a
    free one ends)."""
    return seq - ((seq - _SEQ_BASE) & 0xFFFF) + 0xFFFF


@dataclass(frozen=True, slots=True)
class _Message:
    wamid: str
    outbound: bool
    kind: str
    status: str
    content: bytes
    at: datetime
    seq: int
    raw: dict[str, Any]


def _messages(event: HistoryReceived) -> list[_Message]:
    customer = "".join(ch for ch in str(event.thread.get("id", "")) if ch.isdigit())
    found: list[_Message] = []
    for index, raw in enumerate(event.thread.get("messages") or []):
        wamid = wamid_of(raw) if isinstance(raw, dict) else None
        stamp = raw.get("timestamp") if isinstance(raw, dict) else None
        if wamid is None or not isinstance(stamp, str) or not stamp.isdigit() or len(stamp) > 12:
            log.warning("inbox.history_message_malformed")
            continue
        at = datetime.fromtimestamp(int(stamp), UTC)
        if not event.received_at - _OLDEST <= at <= event.received_at + _NEWEST:
            log.warning("inbox.history_message_malformed", reason="timestamp")
            continue
        sender = "".join(ch for ch in str(raw.get("from", "")) if ch.isdigit())
        outbound = sender != customer
        context = raw.get("history_context")
        last = context.get("status") if isinstance(context, dict) else None
        status = _OUTBOUND_STATUS.get(str(last).upper(), "sent") if outbound else "received"
        content = {k: v for k, v in raw.items() if k not in _NOT_CONTENT}
        found.append(
            _Message(
                wamid,
                outbound,
                message_type(raw),
                status,
                orjson.dumps(content),
                at,
                history_seq(at, index, wamid),
                raw,
            )
        )
    return found


def _completes(stored_type: str, kind: str) -> bool:
    """Whether a message of `kind` gives a stored placeholder its content."""
    return stored_type == PLACEHOLDER and kind != PLACEHOLDER


def media_wamids(event: HistoryReceived) -> list[str]:
    """The wamids of the thread's messages that carry a file (to fetch once stored)."""
    return [
        wamid
        for raw in event.thread.get("messages") or []
        if isinstance(raw, dict)
        and (wamid := wamid_of(raw)) is not None
        and media_ref(raw) is not None
    ]


async def import_history(
    conn: Conn, event: HistoryReceived, envelope: Envelope, deps: InboxDeps
) -> None:
    """Store a thread of the app's history once (its files are fetched after the commit)."""
    tenant_id = envelope.tenant_id
    number_id = await repository.number_id_for(conn, event.phone_number_id)
    if number_id is None:
        # Not a number of this tenant's (RLS hides the others'): nothing for anyone.
        log.warning("inbox.number_unknown", phone_number_id=event.phone_number_id)
        return
    await note_coexistence(conn, number_id)
    phone = e164(event.thread.get("id"), deps.phone_region)
    messages = _messages(event)
    if phone is None or not messages:
        log.warning("inbox.history_thread_skipped", messages=len(messages))
        return
    erased = await erasure_of(conn, tenant_id, phone, deps)
    if erased is not None:
        # The person was erased: what they and the business wrote until then stays erased.
        messages = [m for m in messages if m.at > erased]
        if not messages:
            log.info("inbox.history_erased")
            return
    known = await repository.stored_types(conn, [m.wamid for m in messages])
    if all(m.wamid in known and not _completes(known[m.wamid], m.kind) for m in messages):
        # A redelivery under another event id, or messages that all came live: nothing new.
        log.info("inbox.history_known", messages=len(messages))
        return
    contact_id = await find_or_create_contact(
        conn, tenant_id, SenderIdentity(phone, None, None), deps
    )
    await lock_contact_number(conn, contact_id, number_id)
    found = await latest_conversation_for_update(conn, contact_id, number_id)
    newest = max(messages, key=lambda m: m.seq)
    created = found is None
    conversation_id = uuid4() if found is None else found[0]
    if created:
        await repository.insert_history_conversation(
            conn, tenant_id, conversation_id, contact_id, number_id, newest.at
        )
    stored, completed = 0, 0
    for message in messages:
        body_enc = deps.cipher.encrypt(message.content, tenant_id=tenant_id, field=BODY_FIELD)
        target = uuid4()
        seq = await repository.insert_history_message(
            conn,
            tenant_id,
            target,
            conversation_id,
            wamid=message.wamid,
            outbound=message.outbound,
            message_type=message.kind,
            status=message.status,
            body_enc=body_enc,
            at=message.at,
            seq=message.seq,
            seq_limit=last_seq_of_second(message.seq),
        )
        if seq is not None:
            stored += 1
        elif _completes(known.get(message.wamid, ""), message.kind):
            # Stored already: a placeholder of it gets the content that followed it.
            found_id = await repository.complete_placeholder(
                conn, message.wamid, message.kind, body_enc
            )
            if found_id is None:
                continue
            target, completed = found_id, completed + 1
        else:
            continue
        ref = media_ref(message.raw)
        if ref is not None:
            await media_repository.insert_media(conn, tenant_id, uuid4(), target, number_id, ref)
    if stored:
        # Only a conversation that had no message yet takes one of these as its latest.
        await replies_repository.touch_conversation(conn, conversation_id, newest.seq, newest.at)
    elif created:
        # Every message was stored already (under another of the customer's identities):
        # no empty conversation is left behind.
        await repository.delete_conversation(conn, conversation_id)
    log.info(
        "inbox.history_imported",
        stored=stored,
        completed=completed,
        skipped=len(messages) - stored - completed,
        phase=event.chunk.get("phase"),
        progress=event.chunk.get("progress"),
    )
