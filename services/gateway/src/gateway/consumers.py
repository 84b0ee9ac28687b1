"""What the gateway takes from the bus: live events for its streams.

Every replica needs every live event (its dashboards may belong to any tenant), so each
process declares a queue of its own: exclusive, auto-delete, non-durable and classic, bound
to ``LIVE_BINDINGS``, consumed without acks. Live updates are ephemeral:
a dashboard reloads its state when it reconnects, so nothing here needs to survive a restart.

The durable, shared `gateway.live` queue of the platform topology is bound only to the events
that nothing but live streams wants (every event type must route somewhere: publishes are
mandatory, and without it those events would be unroutable whenever no gateway is running, and
their outbox relay would fail). The gateway drains it without acks and drops what it holds, so
it never fills up.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web
from pydantic import ValidationError

from gateway.stream_hub import HUB, Hub
from majlis.events import parse_envelope
from majlis.http.resources import BUS
from majlis.logging import get_logger
from majlis.messaging import exchange_name, queue_name
from majlis.messaging.queues import GATEWAY_LIVE

log = get_logger(__name__)

# Campaigns: state changes, the coalesced progress (one event a second per sending campaign,
# counts only) and the final counts, for the Campaigns screen.
LIVE_BINDINGS = ("inbox.#", "gateway.presence.#", "broadcast.webhook.#", "broadcast.campaign.#")


def live_queue_name(prefix: str) -> str:
    """This replica's own queue: `gateway.live.<random>` with the bus prefix."""
    return queue_name(prefix, f"gateway.live.{secrets.token_hex(8)}")


def _on_live(hub: Hub) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    async def on_message(message: AbstractIncomingMessage) -> None:
        try:
            envelope = parse_envelope(message.body)
        except ValidationError:
            # Never the body: it failed to parse and may hold anything.
            log.warning(
                "stream.event.undecodable",
                message_id=message.message_id,
                body_bytes=len(message.body),
            )
            return
        hub.deliver(envelope)

    return on_message


async def _drop(message: AbstractIncomingMessage) -> None:
    """The shared durable queue's messages are not needed: the per-replica queue has them."""


async def live_events_ctx(app: web.Application) -> AsyncIterator[None]:
    """Consume this replica's live queue into the hub, and drain the shared one."""
    bus, hub = app[BUS], app[HUB]
    # Robust channels re-declare the queue, its bindings and the consumer after a reconnect.
    channel = await bus.channel(publisher_confirms=False)
    queue = await channel.declare_queue(
        live_queue_name(bus.prefix),
        durable=False,
        exclusive=True,
        auto_delete=True,
        arguments={"x-queue-type": "classic"},
    )
    for pattern in LIVE_BINDINGS:
        await queue.bind(exchange_name(bus.prefix), routing_key=pattern)
    await queue.consume(_on_live(hub), no_ack=True)
    shared = await channel.get_queue(queue_name(bus.prefix, GATEWAY_LIVE.name), ensure=True)
    await shared.consume(_drop, no_ack=True)
    log.info("stream.live_queue.started", queue=queue.name)
    yield
    if not channel.is_closed:
        await channel.close()
