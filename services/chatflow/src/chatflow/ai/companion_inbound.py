"""Answer a message the owner sent to their companion (routed here by the inbox).

The reply is computed first, with no transaction open (it may ask the AI provider), and then
goes back from the business number the owner wrote to, through the dispatcher, queued in the
consumer's transaction; its message id derives from the command's event id, so even a reply
queued twice would be one send. Nothing of the conversation is stored but the
encrypted 24-hour history in Redis (chatflow.ai.companion).
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson

from chatflow.ai.answerer import AiService
from chatflow.ai.companion import companion_reply, queue_text
from majlis.events import Envelope
from majlis.events.inbox import COMPANION_MESSAGE_FIELD, CompanionMessageReceived
from majlis.logging import get_logger

log = get_logger(__name__)


async def owner_reply(
    ai: AiService, envelope: Envelope, event: CompanionMessageReceived
) -> tuple[str, str] | None:
    """(owner's phone, the companion's answer), computed with no transaction open; None if
    the number is no longer a verified companion."""
    tenant_id = envelope.tenant_id
    opened = ai.cipher.decrypt(
        base64.b64decode(event.message_enc), tenant_id=tenant_id, field=COMPANION_MESSAGE_FIELD
    )
    message = orjson.loads(opened)
    phone, text = str(message["from"]), str(message.get("text") or "")
    reply = await companion_reply(ai, tenant_id, phone, text)
    if reply is None:
        # Removed or replaced between the inbox's routing and now: nobody to answer.
        log.info("chatflow.companion_not_registered")
        return None
    return phone, reply


async def queue_owner_reply(
    conn: Any,
    ai: AiService,
    envelope: Envelope,
    event: CompanionMessageReceived,
    answer: tuple[str, str],
) -> None:
    """Queue the answer's send inside the consumer's transaction."""
    phone, reply = answer
    message_id = uuid5(NAMESPACE_URL, f"majlis:companion-reply:{envelope.id}")
    await queue_text(conn, ai, envelope.tenant_id, event.number_id, phone, reply, message_id)
    log.info("chatflow.companion_answered")
