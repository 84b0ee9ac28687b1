"""Messages from an owner's companion number go to the companion, not to the team inbox.

An owner registers a personal number for the AI companion (chatflow, `/api/v1/companion`)
on one business number. When that personal number, once verified, writes to that business
number, the inbox makes no contact, conversation or message of it: it queues a
`command.chatflow.companion_message` (the sender and text sealed) in the consumer's
transaction, and the chatflow service answers. Each wamid is routed once
(companion_messages), however often Meta redelivers it.
"""

from __future__ import annotations

import base64
from uuid import UUID

import orjson

from inbox.content import SenderIdentity, plain_text
from inbox.deps import InboxDeps
from inbox.repository import Conn
from majlis.crypto.blind_index import PHONE_FIELD
from majlis.events import Envelope, caused_by
from majlis.events.inbox import COMPANION_MESSAGE_FIELD, CompanionMessageReceived
from majlis.events.webhook_ingest import MessageReceived
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox

log = get_logger(__name__)
# A companion question is a chat message, not a document.
MAX_TEXT = 4096


async def route_to_companion(
    conn: Conn,
    event: MessageReceived,
    envelope: Envelope,
    deps: InboxDeps,
    *,
    number_id: UUID,
    identity: SenderIdentity,
    wamid: str,
) -> bool:
    """True if the message is the owner's (queued for the companion or already was)."""
    if identity.phone is None:
        return False
    tenant_id = envelope.tenant_id
    bidx = deps.indexer.value(identity.phone, tenant_id=tenant_id, field=PHONE_FIELD)
    companion_id = await conn.fetchval(
        "SELECT id FROM companion_numbers"
        " WHERE phone_bidx = $1 AND number_id = $2 AND verified_at IS NOT NULL",
        bidx,
        number_id,
    )
    if companion_id is None:
        return False
    first = await conn.fetchval(
        "INSERT INTO companion_messages (tenant_id, wamid, companion_id)"
        " VALUES ((SELECT app.current_tenant_id()), $1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        wamid,
        companion_id,
    )
    if not first:
        log.info("inbox.companion_message_duplicate")
        return True
    message = {"from": identity.phone, "text": plain_text(event.message)[:MAX_TEXT]}
    sealed = deps.cipher.encrypt(
        orjson.dumps(message), tenant_id=tenant_id, field=COMPANION_MESSAGE_FIELD
    )
    command = CompanionMessageReceived(
        number_id=number_id, wamid=wamid, message_enc=base64.b64encode(sealed).decode("ascii")
    )
    await add_to_outbox(conn, caused_by(command, envelope))
    log.info("inbox.companion_message_routed")
    return True
