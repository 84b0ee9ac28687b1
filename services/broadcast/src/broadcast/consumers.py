"""Handlers of the dispatcher's queues, one table per queue: event type -> handler.

`broadcast.commands` (interactive sends) and `broadcast.bulk` (bulk sends) take the same
command; `broadcast.events` takes status webhooks, to settle sends whose outcome we lost.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, cast
from uuid import UUID

from broadcast.campaign_events import (
    on_account_update,
    on_campaign_reply,
    on_campaign_status,
    on_phone_quality,
)
from broadcast.campaign_lifecycle import CampaignDeps
from broadcast.dispatcher import PAYLOAD_FIELD, Dispatcher, emit, parse_content
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
    AccountReceived,
    MessageReceived,
    PhoneQualityReceived,
    StatusReceived,
    TemplateStatusReceived,
)
from majlis.logging import get_logger
from majlis.messaging import Handler, claim_event
from majlis.meta.callback import read_echo

log = get_logger(__name__)
CONSUMER = "broadcast.dispatcher"


def _opened(
    dispatcher: Dispatcher, command: SendMessage, tenant_id: UUID
) -> tuple[bytes, tuple[str, dict[str, Any]]] | None:
    """The command's content sealed under the table's field, and parsed; None if it is not
    ours to read or not a message."""
    cipher = dispatcher.cipher
    try:
        sealed = base64.b64decode(command.payload_enc, validate=True)
        plain = cipher.decrypt(sealed, tenant_id=tenant_id, field=SEND_PAYLOAD_FIELD)
    except (binascii.Error, ValueError, DecryptionError):
        return None
    content = parse_content(plain)
    if content is None:
        return None
    return cipher.encrypt(plain, tenant_id=tenant_id, field=PAYLOAD_FIELD), content


async def _refuse(
    dispatcher: Dispatcher, command: SendMessage, envelope: Envelope, why: str
) -> None:
    """A command we can never send (unknown number, unreadable payload): failed, once."""
    async with tenant_transaction(dispatcher.pool, envelope.tenant_id) as conn:
        if await claim_event(conn, CONSUMER, envelope):
            failed = MessageFailed(
                message_id=command.message_id,
                error_title=why,
                bulk=isinstance(command, SendBulkMessage) or command.priority == "bulk",
            )
            await emit(conn, envelope.tenant_id, failed)
    log.warning("dispatch.refused", send_id=str(command.message_id), reason=why)


def on_send_message(get: Callable[[], Dispatcher]) -> Handler:
    """Record the send (once) and try it now; redeliveries never send twice."""

    async def handle(event: Event, envelope: Envelope) -> None:
        dispatcher, command = get(), cast(SendMessage, event)
        opened = _opened(dispatcher, command, envelope.tenant_id)
        if opened is None:
            await _refuse(dispatcher, command, envelope, "invalid-payload")
            return
        sealed, content = opened
        priority = "bulk" if isinstance(command, SendBulkMessage) else command.priority
        # Another tenant's number is invisible (RLS): refused like an unknown one.
        known = await dispatcher.dispatch_new(
            envelope.tenant_id,
            command.message_id,
            command.number_id,
            command.conversation_id,
            priority,
            sealed,
            content,
        )
        if not known:
            await _refuse(dispatcher, command, envelope, "unknown-number")

    return handle


def on_status_received(get: Callable[[], Dispatcher]) -> Handler:
    """A status webhook echoing one of our send ids settles that send if it was pending."""

    async def handle(event: Event, envelope: Envelope) -> None:
        status = cast(StatusReceived, event).status
        echo, wamid = read_echo(status.get("biz_opaque_callback_data")), status.get("id")
        if echo is None or not isinstance(wamid, str) or not wamid:
            return  # no callback data, or someone else's (a campaign tag, another tool)
        send_id, dispatcher = echo.send_id, get()
        if not dispatcher.is_settled(send_id):  # sent, delivered, read: one query at most
            await dispatcher.reconcile(envelope.tenant_id, send_id, wamid)

    return handle


def command_handlers(get: Callable[[], Dispatcher]) -> dict[str, Handler]:
    """`broadcast.commands` and `broadcast.bulk`: both kinds of send command."""
    handler = on_send_message(get)
    return {SendMessage.routing_key: handler, SendBulkMessage.routing_key: handler}


def event_handlers(
    get: Callable[[], Dispatcher], campaigns: Callable[[], CampaignDeps]
) -> dict[str, Handler]:
    """`broadcast.events`: status, template status, inbound message, quality and account
    webhooks."""
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
        AccountReceived.routing_key: on_account_update(campaigns),
    }
