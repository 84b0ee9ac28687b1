"""Handlers of the `chatflow.events` queue, one table: event type -> handler.

`inbox.message.stored`: run the bot for the conversation. The event id is claimed in
processed_messages in the same transaction as the engine's work, so a redelivery does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from chatflow.conversation_runs import on_inbound
from chatflow.engine import EngineDeps
from majlis.events import Envelope, Event
from majlis.events.inbox import MessageStored
from majlis.messaging import Handler, idempotent

CONSUMER = "chatflow"


def bind_handlers(
    pool: Callable[[], asyncpg.Pool[Any]], deps: Callable[[], EngineDeps]
) -> dict[str, Handler]:
    """The handler table; the pool and deps are read per message, once the app has started."""

    async def on_message_stored(event: Event, envelope: Envelope) -> None:
        if not isinstance(event, MessageStored):
            raise TypeError("on_message_stored needs a MessageStored event")

        async def work(conn: Any, _event: Event, claimed: Envelope) -> None:
            await on_inbound(
                conn, claimed.tenant_id, deps(), event.conversation_id, event.message_id
            )

        await idempotent(pool(), CONSUMER, work)(event, envelope)

    return {MessageStored.routing_key: on_message_stored}
