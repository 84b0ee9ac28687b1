"""Handlers of the dispatcher's queues, one table per queue: event type -> handler.

`broadcast.commands` (interactive sends) and `broadcast.bulk` (bulk sends) take the same
command; `broadcast.events` takes status webhooks, to settle sends whose outcome we lost.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import cast
from uuid import UUID

from broadcast import sends_repository as repo
from broadcast.campaign_events import on_campaign_reply, on_campaign_status, on_phone_quality
from broadcast.campaign_lifecycle import CampaignDeps
from broadcast.dispatcher import PAYLOAD_FIELD, Dispatcher, emit
from broadcast.template_status import on_template_status
from majlis.crypto import DecryptionError
from majlis.db import tenant_transaction
from majlis.events import Envelope, Event
from majlis.events.broadcast import (
    SEND_PAYLOAD_FIELD,
    MessageFailed,
    SendBulkMessage,
    SendMessage,
)
from majlis.events.webhook_ingest import (
    MessageReceived,
    PhoneQualityReceived,
    StatusReceived,
    TemplateStatusReceived,
)
from majlis.logging import get_logger
from majlis.messaging import Handler, claim_event

log = get_logger(__name__)
CONSUMER = "broadcast.dispatcher"


def _reencrypted(dispatcher: Dispatcher, command: SendMessage, tenant_id: UUID) -> bytes | None:
    """The command's payload under the table's field; None if it is not ours to read."""
    cipher = dispatcher.cipher
    try:
        sealed = base64.b64decode(command.payload_enc, validate=True)
        plain = cipher.decrypt(sealed, tenant_id=tenant_id, field=SEND_PAYLOAD_FIELD)
    except (binascii.Error, ValueError, DecryptionError):
        return None
    return cipher.encrypt(plain, tenant_id=tenant_id, field=PAYLOAD_FIELD)


async def _refuse(
    dispatcher: Dispatcher, command: SendMessage, envelope: Envelope, why: str
) -> None:
    """A command we can never send (unknown number, unreadable payload): failed, once."""
    async with tenant_transaction(dispatcher.pool, envelope.tenant_id) as conn:
        if await claim_event(conn, CONSUMER, envelope):
            failed = MessageFailed(message_id=command.message_id, error_title=why)
            await emit(conn, envelope.tenant_id, failed)
    log.warning("dispatch.refused", send_id=str(command.message_id), reason=why)


def on_send_message(get: Callable[[], Dispatcher]) -> Handler:
    """Record the send (once) and try it now; redeliveries never send twice."""

    async def handle(event: Event, envelope: Envelope) -> None:
        dispatcher, command = get(), cast(SendMessage, event)
        tenant_id = envelope.tenant_id
        payload = _reencrypted(dispatcher, command, tenant_id)
        if payload is None:
            await _refuse(dispatcher, command, envelope, "invalid-payload")
            return
        async with tenant_transaction(dispatcher.pool, tenant_id) as conn:
            # Another tenant's number is invisible here (RLS): refused like an unknown one.
            if not await repo.number_exists(conn, command.number_id):
                known = False
            else:
                known = True
                await repo.insert_send(
                    conn,
                    command.message_id,
                    command.number_id,
                    command.conversation_id,
                    "bulk" if isinstance(command, SendBulkMessage) else command.priority,
                    payload,
                )
        if not known:
            await _refuse(dispatcher, command, envelope, "unknown-number")
            return
        await dispatcher.attempt(tenant_id, command.message_id, "bus")

    return handle


def on_status_received(get: Callable[[], Dispatcher]) -> Handler:
    """A status webhook echoing one of our send ids settles that send if it was pending."""

    async def handle(event: Event, envelope: Envelope) -> None:
        status = cast(StatusReceived, event).status
        echoed, wamid = status.get("biz_opaque_callback_data"), status.get("id")
        if not isinstance(echoed, str) or not isinstance(wamid, str) or not wamid:
            return
        try:
            send_id = UUID(echoed)
        except ValueError:
            return  # someone else's callback data (a campaign tag, another tool)
        await get().reconcile(envelope.tenant_id, send_id, wamid)

    return handle


def command_handlers(get: Callable[[], Dispatcher]) -> dict[str, Handler]:
    """`broadcast.commands` and `broadcast.bulk`: both kinds of send command."""
    handler = on_send_message(get)
    return {SendMessage.routing_key: handler, SendBulkMessage.routing_key: handler}


def event_handlers(
    get: Callable[[], Dispatcher], campaigns: Callable[[], CampaignDeps]
) -> dict[str, Handler]:
    """`broadcast.events`: status, template status, inbound message and quality webhooks."""
    settle, progress = on_status_received(get), on_campaign_status(campaigns)

    async def on_status(event: Event, envelope: Envelope) -> None:
        # Settle the send first: the campaign's recipient then moves on from 'sent'.
        await settle(event, envelope)
        await progress(event, envelope)

    return {
        StatusReceived.routing_key: on_status,
        TemplateStatusReceived.routing_key: on_template_status(lambda: get().pool),
        MessageReceived.routing_key: on_campaign_reply(campaigns),
        PhoneQualityReceived.routing_key: on_phone_quality(campaigns),
    }
