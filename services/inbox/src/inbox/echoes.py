"""Messages the business sent from the WhatsApp Business app on its phone (coexistence).

A number shared by the app and the Cloud API reports what the owner types on the phone as
`smb_message_echoes` webhooks. Each echo is stored once per (tenant, wamid) as an outbound
message of the customer's conversation, written by `business_app`, already `sent` (Meta's
later statuses move it forward like any other, also those that arrived first), so the team
sees the whole thread and the collision check refuses an agent's reply that did not see it.

What an echo is not: the customer writing. It never opens or extends the 24-hour service
window, never counts as unread, never reopens a resolved conversation and is never handed to
the bots (`inbox.message.added`, not `inbox.message.stored`). The owner answering in person
takes the conversation from the bot, as an agent's takeover does, so the bot does not talk
over them. A conversation the owner starts from the phone is created open, for the team.

Runs inside the idempotent consumer's tenant transaction: the claim, the rows and the events
commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID, uuid4

import orjson

from inbox import conversations_repository as conversations_repo
from inbox import media_repository, replies_repository, repository
from inbox.content import media_ref, message_type, recipient_identity, sent_at
from inbox.conversation_opening import (
    insert_conversation,
    latest_conversation_for_update,
    lock_contact_number,
)
from inbox.conversations import updated_event
from inbox.deps import InboxDeps
from inbox.inbound import (
    BODY_FIELD,
    DuplicateMessage,
    find_or_create_contact,
    first_delivery,
    note_coexistence,
)
from inbox.repository import Conn
from inbox.statuses import publish_state
from majlis.events import Envelope, caused_by
from majlis.events.inbox import EchoStored, MessageAdded
from majlis.events.webhook_ingest import EchoReceived
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox

log = get_logger(__name__)

SENDER_KIND: Final = "business_app"
# Who and when live in columns or are the contact; the customer's number is not content.
_NOT_CONTENT = frozenset({"from", "to", "to_user_id", "from_user_id", "id", "timestamp"})


async def store_echo(conn: Conn, event: EchoReceived, envelope: Envelope, deps: InboxDeps) -> None:
    """Store an echo once per (tenant, wamid); queue `inbox.message.added` (the inbox's
    consumers: live view, analytics) and `inbox.echo.stored` (outbound webhooks)."""
    tenant_id = envelope.tenant_id
    first = await first_delivery(conn, event.message, event.phone_number_id, "echo")
    if first is None:
        return
    wamid, number_id = first
    await note_coexistence(conn, number_id)
    identity = recipient_identity(event.message, deps.phone_region)
    if identity is None:
        log.warning("inbox.echo_recipient_unidentified", message_type=message_type(event.message))
        return
    contact_id = await find_or_create_contact(conn, tenant_id, identity, deps)
    moment = sent_at(event.message.get("timestamp"), event.received_at)
    conversation_id = await _conversation_for(conn, envelope, contact_id, number_id, moment)
    kind = message_type(event.message)
    content = {k: v for k, v in event.message.items() if k not in _NOT_CONTENT}
    message_id = uuid4()
    seq = await repository.insert_webhook_message(
        conn,
        tenant_id,
        message_id,
        conversation_id,
        wamid=wamid,
        message_type=kind,
        body_enc=deps.cipher.encrypt(orjson.dumps(content), tenant_id=tenant_id, field=BODY_FIELD),
        sent_at=moment,
        echo=True,
    )
    if seq is None:
        raise DuplicateMessage("wamid stored concurrently")
    await replies_repository.touch_conversation(conn, conversation_id, seq, moment)
    ref = media_ref(event.message)
    if ref is not None:
        await media_repository.insert_media(conn, tenant_id, uuid4(), message_id, number_id, ref)
    added = MessageAdded(
        message_id=message_id,
        conversation_id=conversation_id,
        number_id=number_id,
        direction="outbound",
        type=kind,
        sender_kind=SENDER_KIND,
    )
    await add_to_outbox(conn, caused_by(added, envelope))
    stored = EchoStored(
        message_id=message_id,
        conversation_id=conversation_id,
        contact_id=contact_id,
        number_id=number_id,
        type=kind,
        wamid=wamid,
    )
    await add_to_outbox(conn, caused_by(stored, envelope))
    # Meta's statuses of the echo may have come first: they were kept for it.
    if await repository.apply_pending_statuses(conn, wamid):
        await publish_state(conn, envelope, await replies_repository.state_by_wamid(conn, wamid))
    log.info("inbox.echo_stored", message_id=str(message_id), message_type=kind)


async def _conversation_for(
    conn: Conn, envelope: Envelope, contact_id: UUID, number_id: UUID, moment: datetime
) -> UUID:
    """The customer's latest conversation on the number (any status), else a new open one;
    taken from the bot if the bot had it."""
    await lock_contact_number(conn, contact_id, number_id)
    found = await latest_conversation_for_update(conn, contact_id, number_id)
    if found is None:
        row = await insert_conversation(
            conn,
            envelope.tenant_id,
            uuid4(),
            contact_id,
            number_id,
            message_at=moment,
            customer_message_at=None,
        )
        if row is None:  # a writer that does not take the lock created one meanwhile
            found = await latest_conversation_for_update(conn, contact_id, number_id)
            if found is None:
                raise RuntimeError("conversation neither insertable nor found")
        else:
            state = await conversations_repo.set_owner(
                conn, row["id"], controller="human", assigned_user_id=None
            )
            await add_to_outbox(
                conn, caused_by(updated_event(state, "created", identity=None), envelope)
            )
            return state.id
    conversation_id = found[0]
    before = await conversations_repo.state_for_update(conn, conversation_id)
    if before is not None and before.controller == "bot":
        state = await conversations_repo.set_owner(
            conn, conversation_id, controller="human", assigned_user_id=before.assigned_user_id
        )
        await add_to_outbox(
            conn, caused_by(updated_event(state, "controller", identity=None), envelope)
        )
        log.info("inbox.echo_took_over_from_bot", conversation_id=str(conversation_id))
    return conversation_id
