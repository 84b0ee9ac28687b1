"""Handlers of the inbox: small functions of (event, envelope, deps), listed in consumers.py."""

from __future__ import annotations

import asyncio

from inbox.bot_actions import ORDER_WAIT_S, PredecessorPending, run_bot_actions
from inbox.contact_sync import apply_contact_sync
from inbox.content import wamid_of
from inbox.deps import InboxDeps
from inbox.echoes import store_echo
from inbox.history import import_history, media_wamids
from inbox.inbound import store_inbound_message
from inbox.media import fetch_pending_media
from inbox.repository import Conn
from inbox.statuses import record_failed, record_sent, record_status
from majlis.events import Envelope, Event
from majlis.events.broadcast import MessageFailed, MessageSent
from majlis.events.chatflow import RunBotActions
from majlis.events.webhook_ingest import (
    ContactSyncReceived,
    EchoReceived,
    HistoryReceived,
    MessageReceived,
    StatusReceived,
)
from majlis.messaging import TransactionalHandler, idempotent

# The name under which this service claims event ids in processed_messages.
CONSUMER = "inbox"


async def on_message_received(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Store an inbound message exactly once, then download its media (if any)."""
    if not isinstance(event, MessageReceived):
        raise TypeError("on_message_received needs a MessageReceived event")

    async def store(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await store_inbound_message(conn, event, claimed, deps)

    await idempotent(deps.pool, CONSUMER, store)(event, envelope)
    # Also on a redelivery: the download is what a retry of this event is for.
    wamid = wamid_of(event.message)
    if wamid is not None:
        await fetch_pending_media(deps, envelope.tenant_id, wamid)


async def on_echo_received(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Store what the business sent from the WhatsApp Business app once, then its media."""
    if not isinstance(event, EchoReceived):
        raise TypeError("on_echo_received needs an EchoReceived event")

    async def store(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await store_echo(conn, event, claimed, deps)

    await idempotent(deps.pool, CONSUMER, store)(event, envelope)
    wamid = wamid_of(event.message)
    if wamid is not None:
        await fetch_pending_media(deps, envelope.tenant_id, wamid)


async def on_contact_sync_received(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Apply a contact the business added or edited in the WhatsApp Business app, once."""
    if not isinstance(event, ContactSyncReceived):
        raise TypeError("on_contact_sync_received needs a ContactSyncReceived event")

    async def apply(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await apply_contact_sync(conn, event, claimed, deps)

    await idempotent(deps.pool, CONSUMER, apply)(event, envelope)


async def on_history_received(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Import a thread of the WhatsApp Business app's chat history once, then its files."""
    if not isinstance(event, HistoryReceived):
        raise TypeError("on_history_received needs a HistoryReceived event")

    async def store(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await import_history(conn, event, claimed, deps)

    await idempotent(deps.pool, CONSUMER, store)(event, envelope)
    # Also on a redelivery: the download is what a retry of this event is for.
    for wamid in media_wamids(event):
        await fetch_pending_media(deps, envelope.tenant_id, wamid)


async def on_status_received(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Move the outbound message's status forward, or keep the status until it exists."""
    if not isinstance(event, StatusReceived):
        raise TypeError("on_status_received needs a StatusReceived event")

    async def record(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await record_status(conn, event, claimed)

    await idempotent(deps.pool, CONSUMER, record)(event, envelope)


async def on_message_sent(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Link the wamid of a message the dispatcher sent and apply statuses kept for it."""
    if not isinstance(event, MessageSent):
        raise TypeError("on_message_sent needs a MessageSent event")
    if event.bulk:
        # A campaign's send, one per recipient: no inbox message to link, so no transaction.
        return

    async def record(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await record_sent(conn, event, claimed)

    await idempotent(deps.pool, CONSUMER, record)(event, envelope)


async def on_message_failed(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Mark a message the dispatcher could not send as failed."""
    if not isinstance(event, MessageFailed):
        raise TypeError("on_message_failed needs a MessageFailed event")
    if event.bulk:
        return  # a campaign's send, as above

    async def record(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await record_failed(conn, event, claimed)

    await idempotent(deps.pool, CONSUMER, record)(event, envelope)


async def on_run_bot_actions(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Store the bot's messages (and queue their sends), tag, update, hand off: once, and
    after the conversation's previous step (waiting up to ORDER_WAIT_S for it)."""
    if not isinstance(event, RunBotActions):
        raise TypeError("on_run_bot_actions needs a RunBotActions command")
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + ORDER_WAIT_S, 0.01

    def applying(in_order: bool) -> TransactionalHandler:
        async def apply(conn: Conn, _event: Event, claimed: Envelope) -> None:
            await run_bot_actions(conn, claimed.tenant_id, event, deps, in_order=in_order)

        return apply

    while True:
        try:
            await idempotent(deps.pool, CONSUMER, applying(loop.time() < deadline))(event, envelope)
            return
        except PredecessorPending:
            # Most often the predecessor is being handled right now, by this consumer or
            # another replica: it commits within milliseconds.
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)
