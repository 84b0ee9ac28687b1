"""Replying in a conversation: the rules, the stored message and the send command, in one go.

Everything runs in the caller's transaction with the conversation row locked (FOR UPDATE), so
two agents replying at once are serialised and the second one sees the first one's reply.

Who may send to WhatsApp (private notes: any owner, admin or agent, whatever the assignment):
  * a signed-in user only when the conversation is assigned to them; an unassigned one must
    be taken over first (409 `not-assignee`), so two people never answer one customer;
  * an API key (an integration, no person behind it) when the conversation is unassigned or
    the bot controls it; a conversation a person has taken over is theirs (409 `not-assignee`).
A resolved conversation is history: reopen it before writing to the customer (409).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import orjson
from pydantic import Field, RootModel, StringConstraints

from inbox import media_repository
from inbox import replies_repository as repo
from inbox.contact_keys import BSUID_FIELD, PHONE_FIELD
from inbox.inbound import BODY_FIELD
from inbox.outbound_interactive import InteractiveReply
from inbox.outbound_payloads import MediaReply, ReplyBase, TemplateReply, TextReply
from inbox.replies_repository import MessageRow, ReplyTarget
from inbox.repository import Conn
from inbox.web import emit
from majlis.crypto import FieldCipher
from majlis.events.broadcast import SEND_PAYLOAD_FIELD, SendMessage
from majlis.events.inbox import MessageAdded
from majlis.http import ProblemError
from majlis.http.auth import Identity

MAX_MENTIONS = 50
MAX_NEWER_SHOWN = 20
_MENTION = re.compile(r"@\[([0-9a-fA-F-]{36})\]")


class NoteReply(ReplyBase):
    """A private note for the team, never sent to WhatsApp; may mention users."""

    type: Literal["note"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    mentions: Annotated[list[UUID], Field(default_factory=list, max_length=MAX_MENTIONS)]

    def cloud_message(self) -> dict[str, Any]:
        """Stored like a text message, so one renderer shows both."""
        return {"type": "text", "text": {"body": self.text}}

    def mentioned(self) -> list[UUID]:
        """The listed mentions and every `@[user-uuid]` in the text, once each."""
        found: dict[UUID, None] = dict.fromkeys(self.mentions)
        for match in _MENTION.finditer(self.text):
            try:
                found.setdefault(UUID(match.group(1)))
            except ValueError:
                continue  # not an id: plain text that happens to look like a mention
        return list(found)


Reply = TextReply | MediaReply | TemplateReply | InteractiveReply | NoteReply


class ReplyBody(RootModel[Annotated[Reply, Field(discriminator="type")]]):
    """The body of `POST /conversations/{id}/messages`, chosen by its "type"."""


@dataclass(frozen=True, slots=True)
class Sender:
    """Who writes: a user (their id) or an API key (no user)."""

    kind: Literal["user", "api_key"]
    user_id: UUID | None

    @classmethod
    def of(cls, identity: Identity) -> Sender:
        """The sender for a verified identity."""
        if identity.kind == "api_key":
            return cls("api_key", None)
        return cls("user", identity.principal_id)


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """The stored message, its mentions, and whether this call created it (not a retry)."""

    message: MessageRow
    mentions: list[UUID]
    created: bool


def decrypt_body(cipher: FieldCipher, tenant_id: UUID, row: MessageRow) -> Any:
    """A message's content as JSON (None if it has none)."""
    if row.body_enc is None:
        return None
    return orjson.loads(cipher.decrypt(row.body_enc, tenant_id=tenant_id, field=BODY_FIELD))


def _id(value: UUID | None) -> str | None:
    """An id as text (asyncpg's UUID subclass is not one orjson serialises)."""
    return None if value is None else str(value)


def message_json(
    cipher: FieldCipher, tenant_id: UUID, row: MessageRow, mentions: list[UUID] | None = None
) -> dict[str, Any]:
    """A message as the API shows it, body decrypted."""
    shown: dict[str, Any] = {
        "id": _id(row.id),
        "conversation_id": _id(row.conversation_id),
        "direction": row.direction,
        "type": row.type,
        "status": row.status,
        "sender_kind": row.sender_kind,
        "sender_user_id": _id(row.sender_user_id),
        "seq": row.seq,
        "created_at": row.created_at,
        "body": decrypt_body(cipher, tenant_id, row),
        "error_code": row.error_code,
        "error_title": row.error_title,
    }
    if row.direction == "note":
        shown["mentions"] = [str(m) for m in mentions or []]
    return shown


async def send_reply(
    conn: Conn,
    cipher: FieldCipher,
    identity: Identity,
    conversation_id: UUID,
    body: Reply,
    idempotency_key: str | None,
) -> ReplyOutcome:
    """Check the rules, store the message and queue its send command (notes: no command)."""
    target = await repo.lock_reply_target(conn, conversation_id)
    if target is None:
        raise ProblemError(404, "Conversation not found")
    sender = Sender.of(identity)
    if idempotency_key is not None:
        earlier = await repo.message_by_idempotency_key(conn, conversation_id, idempotency_key)
        if earlier is not None:
            if (earlier.sender_kind, earlier.sender_user_id) != (sender.kind, sender.user_id):
                raise ProblemError(
                    409,
                    "This Idempotency-Key was used by someone else",
                    slug="idempotency-key-reused",
                )
            return ReplyOutcome(earlier, await repo.mentions_of(conn, earlier.id), created=False)
    if target.is_contact_restricted:
        raise ProblemError(
            422,
            "The contact is deleted or its processing is restricted",
            slug="contact-restricted",
        )
    last_seen_seq = await _last_seen_seq(conn, conversation_id, body.last_seen_message_id)
    if isinstance(body, NoteReply):
        return await _add_note(conn, cipher, identity, sender, target, body, idempotency_key)
    _check_may_send(identity, target)
    if last_seen_seq is not None:
        await _check_no_newer_replies(conn, cipher, identity, sender, target, last_seen_seq)
    if not isinstance(body, TemplateReply) and not target.is_window_open:
        raise ProblemError(
            422,
            "The customer service window is closed",
            slug="outside-customer-service-window",
            detail="The customer last wrote more than 24 hours ago (or never): WhatsApp only"
            " delivers template messages now (Meta error 131047). Send a template instead.",
        )
    return await _queue_send(conn, cipher, identity, sender, target, body, idempotency_key)


async def _last_seen_seq(conn: Conn, conversation_id: UUID, seen: UUID | None) -> int | None:
    if seen is None:
        return None
    seq = await repo.message_seq(conn, conversation_id, seen)
    if seq is None:
        # The same answer for another tenant's or another conversation's message id.
        raise ProblemError(
            422,
            "last_seen_message_id is not a message of this conversation",
            slug="unknown-last-seen-message",
        )
    return seq


def _check_may_send(identity: Identity, target: ReplyTarget) -> None:
    if target.status == "resolved":
        raise ProblemError(
            409,
            "The conversation is resolved",
            slug="conversation-resolved",
            detail="Reopen the conversation before writing to the customer.",
        )
    if identity.kind == "api_key":
        allowed = target.assigned_user_id is None or target.controller == "bot"
    else:
        allowed = target.assigned_user_id == identity.principal_id
    if not allowed:
        raise ProblemError(
            409,
            "Only the conversation's assignee may reply",
            slug="not-assignee",
            detail="Take the conversation over first"
            f" (POST /api/v1/conversations/{target.id}/takeover), then reply.",
            assigned_user_id=_id(target.assigned_user_id),
        )


async def _check_no_newer_replies(
    conn: Conn,
    cipher: FieldCipher,
    identity: Identity,
    sender: Sender,
    target: ReplyTarget,
    last_seen_seq: int,
) -> None:
    # An API key cannot tell its own earlier sends from another key's: every newer reply counts.
    newer = await repo.newer_replies_by_others(
        conn, target.id, last_seen_seq, sender.user_id, MAX_NEWER_SHOWN
    )
    if newer:
        raise ProblemError(
            409,
            "Someone else replied since you last looked",
            slug="conversation-changed",
            detail="Read the newer messages and send again with their last_seen_message_id.",
            newer_messages=[
                {
                    "id": _id(m.id),
                    "seq": m.seq,
                    "type": m.type,
                    "direction": m.direction,
                    "sender_kind": m.sender_kind,
                    "sender_user_id": _id(m.sender_user_id),
                    "created_at": m.created_at,
                    "body": decrypt_body(cipher, identity.tenant_id, m),
                }
                for m in newer
            ],
        )


async def _add_note(
    conn: Conn,
    cipher: FieldCipher,
    identity: Identity,
    sender: Sender,
    target: ReplyTarget,
    body: NoteReply,
    idempotency_key: str | None,
) -> ReplyOutcome:
    mentions = body.mentioned()
    if len(mentions) > MAX_MENTIONS:
        raise ProblemError(422, "Too many mentions", slug="too-many-mentions")
    known = await repo.active_user_ids(conn, mentions) if mentions else set()
    if len(known) < len(mentions):
        # Another tenant's user is unknown here: the same answer, and no hint which id.
        raise ProblemError(422, "A mentioned user does not exist", slug="unknown-mention")
    row = await _store(conn, cipher, identity, sender, target, body, idempotency_key, note=True)
    await repo.insert_mentions(conn, identity.tenant_id, row.id, mentions)
    await emit(
        conn,
        identity.tenant_id,
        MessageAdded(
            message_id=row.id,
            conversation_id=target.id,
            number_id=target.number_id,
            direction="note",
            type=row.type,
            sender_kind=sender.kind,
            sender_user_id=sender.user_id,
            mentions=mentions,
        ),
    )
    return ReplyOutcome(row, mentions, created=True)


async def _queue_send(
    conn: Conn,
    cipher: FieldCipher,
    identity: Identity,
    sender: Sender,
    target: ReplyTarget,
    body: Reply,
    idempotency_key: str | None,
) -> ReplyOutcome:
    tenant_id = identity.tenant_id
    recipient = recipient_of(cipher, tenant_id, target)
    row = await _store(conn, cipher, identity, sender, target, body, idempotency_key, note=False)
    if isinstance(body, MediaReply) and body.media.id is not None:
        await _attach_upload(conn, row.id, target, body.media.id)
    await queue_send(
        conn, cipher, tenant_id, target, recipient, body.cloud_message(), row.id, row.type,
        sender_kind=sender.kind, sender_user_id=sender.user_id,
    )  # fmt: skip
    return ReplyOutcome(row, [], created=True)


async def _attach_upload(conn: Conn, message_id: UUID, target: ReplyTarget, meta_id: str) -> None:
    """Show a file uploaded through `POST /media` in the message that sends it."""
    attached = await media_repository.attach_upload(conn, message_id, target.number_id, meta_id)
    if attached is False:
        raise ProblemError(
            422,
            "This media was uploaded for another number",
            slug="media-number-mismatch",
            detail="Upload the file again with this conversation's number_id.",
        )


async def queue_send(
    conn: Conn,
    cipher: FieldCipher,
    tenant_id: UUID,
    target: ReplyTarget,
    recipient: dict[str, str],
    message: dict[str, Any],
    message_id: UUID,
    message_type: str,
    *,
    sender_kind: Any,
    sender_user_id: UUID | None,
) -> None:
    """Queue a stored outbound message's send and announce it, in the caller's transaction.

    The command commits with the message: a send is never lost, nor made for a rolled-back row.
    The recipient and content ride only as ciphertext.
    """
    payload = orjson.dumps({**recipient, "message": message})
    sealed = cipher.encrypt(payload, tenant_id=tenant_id, field=SEND_PAYLOAD_FIELD)
    command = SendMessage(
        message_id=message_id,
        conversation_id=target.id,
        number_id=target.number_id,
        priority="interactive",
        payload_enc=base64.b64encode(sealed).decode("ascii"),
    )
    await emit(conn, tenant_id, command)
    added = MessageAdded(
        message_id=message_id,
        conversation_id=target.id,
        number_id=target.number_id,
        direction="outbound",
        type=message_type,
        sender_kind=sender_kind,
        sender_user_id=sender_user_id,
    )
    await emit(conn, tenant_id, added)


def recipient_of(cipher: FieldCipher, tenant_id: UUID, target: ReplyTarget) -> dict[str, str]:
    """The phone number (E.164) or, for a contact known only by it, the BSUID."""
    if target.phone_enc is not None:
        phone = cipher.decrypt_text(target.phone_enc, tenant_id=tenant_id, field=PHONE_FIELD)
        return {"to": phone}
    if target.bsuid_enc is not None:
        bsuid = cipher.decrypt_text(target.bsuid_enc, tenant_id=tenant_id, field=BSUID_FIELD)
        return {"recipient": bsuid}
    raise ProblemError(422, "The contact has no WhatsApp identity", slug="contact-unreachable")


async def _store(
    conn: Conn,
    cipher: FieldCipher,
    identity: Identity,
    sender: Sender,
    target: ReplyTarget,
    body: Reply,
    idempotency_key: str | None,
    *,
    note: bool,
) -> MessageRow:
    content = body.cloud_message()
    row = await repo.insert_message(
        conn,
        identity.tenant_id,
        uuid4(),
        target.id,
        direction="note" if note else "outbound",
        message_type=str(content["type"]),
        body_enc=cipher.encrypt(
            orjson.dumps(content), tenant_id=identity.tenant_id, field=BODY_FIELD
        ),
        status="internal" if note else "queued",
        sender_kind=sender.kind,
        sender_user_id=sender.user_id,
        idempotency_key=idempotency_key,
    )
    await repo.touch_conversation(conn, target.id, row.seq)
    return row
