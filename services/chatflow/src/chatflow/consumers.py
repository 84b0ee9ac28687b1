"""Handlers of the `chatflow.events` queue, one table: event type -> handler.

`inbox.message.stored`: run the bot for the conversation; a network call the run reaches is
made after that transaction committed (conversation_runs.drive), never inside it.
`command.chatflow.companion_message`: the owner wrote to their companion; answer them (the
answer, which may ask the AI provider, is computed before the transaction, unless the event
was already handled).
The event id is claimed in processed_messages in the same transaction as the work (and the
reply's outbox entry), so a redelivery does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from chatflow.ai.answerer import AiService
from chatflow.ai.companion_inbound import owner_reply, queue_owner_reply
from chatflow.conversation_runs import drive, on_inbound
from chatflow.engine import EngineDeps
from chatflow.external import Pending
from majlis.db import tenant_transaction
from majlis.events import Envelope, Event
from majlis.events.inbox import CompanionMessageReceived, MessageStored
from majlis.messaging import Handler, idempotent

CONSUMER = "chatflow"


def bind_handlers(
    pool: Callable[[], asyncpg.Pool[Any]],
    deps: Callable[[], EngineDeps],
    ai: Callable[[], AiService],
) -> dict[str, Handler]:
    """The handler table; the pool and deps are read per message, once the app has started."""

    async def on_message_stored(event: Event, envelope: Envelope) -> None:
        if not isinstance(event, MessageStored):
            raise TypeError("on_message_stored needs a MessageStored event")

        calls: list[Pending] = []

        async def work(conn: Any, _event: Event, claimed: Envelope) -> None:
            pending = await on_inbound(
                conn, claimed.tenant_id, deps(), event.conversation_id, event.message_id
            )
            if pending is not None:
                calls.append(pending)

        await idempotent(pool(), CONSUMER, work)(event, envelope)
        for pending in calls:  # committed: now the call, with no transaction open
            await drive(pool(), deps(), pending)

    async def on_companion_message(event: Event, envelope: Envelope) -> None:
        if not isinstance(event, CompanionMessageReceived):
            raise TypeError("on_companion_message needs a CompanionMessageReceived event")

        async with tenant_transaction(pool(), envelope.tenant_id, readonly=True) as conn:
            done = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM processed_messages"
                " WHERE consumer = $1 AND event_id = $2)",
                CONSUMER,
                envelope.id,
            )
        if done:
            return  # a redelivery: answered already, no second provider call
        answer = await owner_reply(ai(), envelope, event)  # no transaction open
        if answer is None:
            return

        async def work(conn: Any, _event: Event, claimed: Envelope) -> None:
            await queue_owner_reply(conn, ai(), claimed, event, answer)

        await idempotent(pool(), CONSUMER, work)(event, envelope)

    return {
        MessageStored.routing_key: on_message_stored,
        CompanionMessageReceived.routing_key: on_companion_message,
    }
