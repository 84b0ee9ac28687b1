"""Store one inbound message: contact, conversation, encrypted body, media row, outbox events.

A message from the owner's companion number goes to the companion instead
(inbox.companion_routing). A new message reopens the customer's latest resolved conversation
(or wakes a snoozed or pending one) instead of starting another; a conversation it creates is
auto-assigned by the number's policy (inbox.assignment) in this same transaction.

Runs inside the idempotent consumer's tenant transaction, so the event claim, every row and
the `inbox.message.stored` outbox entry commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import orjson

from inbox import media_repository, repository
from inbox.assignment import assign_new_conversation
from inbox.companion_routing import route_to_companion
from inbox.contact_keys import PHONE_FIELD, erasure_marker, seal_name
from inbox.content import (
    SenderIdentity,
    media_ref,
    message_content,
    message_type,
    sender_identity,
    sent_at,
    wamid_of,
)
from inbox.conversations import updated_event
from inbox.conversations_repository import ConversationState
from inbox.deps import InboxDeps
from inbox.repository import Conn, OpenedConversation
from majlis.events import Envelope, caused_by, make_envelope
from majlis.events.inbox import ContactChanged, ConversationUpdated, MessageStored
from majlis.events.webhook_ingest import MessageReceived
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox

log = get_logger(__name__)

BODY_FIELD = "messages.body"
NOT_FROM_CUSTOMER = frozenset({"system"})


class DuplicateMessage(RuntimeError):
    """The wamid was stored by someone else after our check; rolling back is the answer."""


async def store_inbound_message(
    conn: Conn, event: MessageReceived, envelope: Envelope, deps: InboxDeps
) -> None:
    """Store a message once per (tenant, wamid) and queue `inbox.message.stored`."""
    tenant_id = envelope.tenant_id
    first = await first_delivery(conn, event.message, event.phone_number_id, "message")
    if first is None:
        return
    wamid, number_id = first
    identity = sender_identity(event.message, event.contact, deps.phone_region)
    if identity is None:
        log.warning("inbox.sender_unidentified", message_type=message_type(event.message))
        return
    if await route_to_companion(
        conn, event, envelope, deps, number_id=number_id, identity=identity, wamid=wamid
    ):
        return
    contact_id = await find_or_create_contact(conn, tenant_id, identity, deps)
    moment = sent_at(event.message.get("timestamp"), event.received_at)
    kind = message_type(event.message)
    opened = await repository.open_conversation(
        conn,
        tenant_id,
        uuid4(),
        contact_id,
        number_id,
        message_at=moment,
        # WhatsApp's own notices (e.g. "changed number") are not the customer writing.
        customer_message_at=None if kind in NOT_FROM_CUSTOMER else moment,
    )
    conversation_id = opened.id
    body = orjson.dumps(message_content(event.message))
    message_id = uuid4()
    seq = await repository.insert_webhook_message(
        conn,
        tenant_id,
        message_id,
        conversation_id,
        wamid=wamid,
        message_type=kind,
        body_enc=deps.cipher.encrypt(body, tenant_id=tenant_id, field=BODY_FIELD),
        sent_at=moment,
    )
    if seq is None:
        raise DuplicateMessage("wamid stored concurrently")
    await repository.set_last_message_seq(conn, conversation_id, message_id)
    ref = media_ref(event.message)
    if ref is not None:
        await media_repository.insert_media(conn, tenant_id, uuid4(), message_id, number_id, ref)
    await announce_conversation(conn, envelope, opened, deps)
    stored = MessageStored(
        message_id=message_id,
        conversation_id=conversation_id,
        contact_id=contact_id,
        number_id=number_id,
        type=kind,
        wamid=wamid,
    )
    await add_to_outbox(conn, caused_by(stored, envelope))
    log.info("inbox.message_stored", message_id=str(message_id), message_type=kind)


async def first_delivery(
    conn: Conn, message: dict[str, Any], phone_number_id: str, kind: str
) -> tuple[str, UUID] | None:
    """(wamid, number id) of a webhook message seen for the first time, the wamid locked until
    the transaction ends; None (logged) if malformed, stored already or for an unknown number.

    Meta redelivers for days, possibly as events with other ids: the wamid decides.
    """
    wamid = wamid_of(message)
    if wamid is None:
        log.warning(f"inbox.{kind}_malformed", reason="wamid")
        return None
    await repository.lock_wamid(conn, wamid)
    if await repository.message_exists(conn, wamid):
        log.info(f"inbox.{kind}_duplicate")
        return None
    number_id = await repository.number_id_for(conn, phone_number_id)
    if number_id is None:
        log.warning("inbox.number_unknown", phone_number_id=phone_number_id)
        return None
    return wamid, number_id


async def note_coexistence(conn: Conn, number_id: UUID) -> None:
    """A coexistence webhook (echo, address book, history) came for the number: it is shared
    with the WhatsApp Business app, which Meta paces at 20 messages per second."""
    if await repository.mark_coexistence(conn, number_id):
        log.info("inbox.number_shared_with_business_app", number_id=str(number_id))


async def _contact_changed(
    conn: Conn, tenant_id: UUID, contact_id: UUID, change: Literal["created", "updated"]
) -> None:
    """Tell subscribers (outbound webhooks, live streams) a contact appeared or changed."""
    event = ContactChanged(contact_id=contact_id, change=change)
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


async def announce_conversation(
    conn: Conn, envelope: Envelope, opened: OpenedConversation, deps: InboxDeps
) -> None:
    """Queue what happened to the conversation; a new one is first auto-assigned (policy)."""
    tenant_id = envelope.tenant_id
    events: list[ConversationUpdated] = []
    if opened.outcome == "created":
        assignee = await assign_new_conversation(
            conn, tenant_id, opened.id, opened.number_id, deps.presence
        )
        state = _state(opened, assignee)
        events.append(updated_event(state, "created", identity=None))
        if assignee is not None:
            events.append(updated_event(state, "assignment", identity=None))
    elif opened.outcome in ("reopened", "woken"):
        events.append(
            updated_event(_state(opened, opened.assigned_user_id), "status", identity=None)
        )
    for item in events:
        await add_to_outbox(conn, caused_by(item, envelope))


def _state(opened: OpenedConversation, assignee: UUID | None) -> ConversationState:
    return ConversationState(
        opened.id,
        opened.contact_id,
        opened.number_id,
        opened.status,
        "human" if assignee is not None else opened.controller,
        assignee,
        None,
        opened.team_id,
    )


async def erasure_of(conn: Conn, tenant_id: UUID, phone: str, deps: InboxDeps) -> datetime | None:
    """When the person with this number (E.164) was erased for good, if ever: what the
    WhatsApp Business app's address book and history say of them up to then stays out."""
    bidx = deps.indexer.value(phone, tenant_id=tenant_id, field=PHONE_FIELD)
    return await repository.erased_at(conn, erasure_marker(deps.indexer, tenant_id, bidx))


async def find_or_create_contact(
    conn: Conn, tenant_id: UUID, identity: SenderIdentity, deps: InboxDeps
) -> UUID:
    """The contact with this phone number or BSUID (by blind index), created if none."""

    def sealed(value: str | None, field: str) -> tuple[bytes, bytes] | None:
        if value is None:
            return None
        return (
            deps.cipher.encrypt(value, tenant_id=tenant_id, field=field),
            deps.indexer.value(value, tenant_id=tenant_id, field=field),
        )

    phone = sealed(identity.phone, "contacts.phone")
    bsuid = sealed(identity.bsuid, "contacts.bsuid")
    name_enc, name_bidx = (
        seal_name(deps.cipher, deps.indexer, tenant_id, identity.name)
        if identity.name
        else (None, None)
    )
    phone_bidx, bsuid_bidx = (phone[1] if phone else None), (bsuid[1] if bsuid else None)
    match = await repository.find_contact(conn, phone_bidx, bsuid_bidx)
    if match is None:
        contact_id = uuid4()
        if await repository.insert_contact(
            conn, tenant_id, contact_id, phone=phone, bsuid=bsuid, name_enc=name_enc
        ):
            if name_bidx is not None:
                await repository.fill_name_index(conn, contact_id, name_bidx)
            await _contact_changed(conn, tenant_id, contact_id, "created")
            return contact_id
        # Another message of the same person created the contact concurrently.
        match = await repository.find_contact(conn, phone_bidx, bsuid_bidx)
        if match is None:
            raise RuntimeError("contact neither insertable nor found")
    if (
        (phone and not match.has_phone)
        or (bsuid and not match.has_bsuid)
        or (name_enc and not match.has_name)
    ):
        await repository.complete_contact(
            conn, match.id, phone=phone, bsuid=bsuid, name_enc=name_enc
        )
        await _contact_changed(conn, tenant_id, match.id, "updated")
        if name_bidx is not None and not match.has_name:
            # The name we just gave the contact becomes searchable (q= in the list).
            await repository.fill_name_index(conn, match.id, name_bidx)
    return match.id
