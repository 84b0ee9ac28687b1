"""Handlers of the inbox: small functions of (event, envelope, deps), listed in consumers.py."""

from __future__ import annotations

from inbox.content import wamid_of
from inbox.deps import InboxDeps
from inbox.inbound import store_inbound_message
from inbox.media import fetch_pending_media
from inbox.repository import Conn
from inbox.statuses import record_status
from majlis.events import Envelope, Event
from majlis.events.webhook_ingest import MessageReceived, StatusReceived
from majlis.messaging import idempotent

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


async def on_status_received(event: Event, envelope: Envelope, deps: InboxDeps) -> None:
    """Move the outbound message's status forward, or keep the status until it exists."""
    if not isinstance(event, StatusReceived):
        raise TypeError("on_status_received needs a StatusReceived event")

    async def record(conn: Conn, _event: Event, claimed: Envelope) -> None:
        await record_status(conn, event, claimed)

    await idempotent(deps.pool, CONSUMER, record)(event, envelope)
