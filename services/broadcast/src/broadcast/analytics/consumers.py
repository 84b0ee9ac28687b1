"""The analytics consumer (`broadcast.analytics`): events in, rollups out.

Each handler runs once per event (claimed in `processed_messages` in the same transaction as
its writes), so a redelivery never counts twice. Conversation facts are also keyed by event
id, and the conversation's cycles are recomputed from all its facts under a per-conversation
lock, so events arriving out of order or concurrently still give the same cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, cast
from uuid import UUID

import asyncpg

from broadcast.analytics import repository as repo
from broadcast.analytics.cycles import Fact, compute_cycles
from majlis.business_hours import zone_or_none
from majlis.events import Envelope, Event
from majlis.events.chatflow import LeadCaptured
from majlis.events.inbox import ConversationUpdated, MessageAdded, MessageStored
from majlis.messaging import Handler, idempotent

CONSUMER = "broadcast.analytics"
PERSON_SENDERS = frozenset({"user", "api_key"})


async def _local_day(conn: repo.Conn, at: datetime) -> date:
    zone = zone_or_none(await repo.tenant_zone_name(conn))
    return at.astimezone(zone).date() if zone is not None else at.date()


async def _record_fact(
    conn: repo.Conn, envelope: Envelope, conversation_id: UUID, fact: Fact
) -> None:
    await repo.lock_conversation(conn, conversation_id)
    if not await repo.insert_fact(conn, envelope.tenant_id, envelope.id, conversation_id, fact):
        return
    name, hours = await repo.tenant_clock(conn)
    zone = zone_or_none(name) or zone_or_none("UTC")
    assert zone is not None
    cycles = compute_cycles(await repo.facts(conn, conversation_id), hours, zone)
    await repo.replace_cycles(conn, envelope.tenant_id, conversation_id, cycles)


async def on_conversation_updated(conn: repo.Conn, event: Event, envelope: Envelope) -> None:
    """A status, owner or assignee change: a state fact, then the cycles again."""
    changed = cast(ConversationUpdated, event)
    fact = Fact(
        at=envelope.occurred_at,
        kind="state",
        number_id=changed.number_id,
        status=changed.status,
        controller=changed.controller,
        assigned_user_id=changed.assigned_user_id,
        user_id=changed.actor_id if changed.actor_type in PERSON_SENDERS else None,
    )
    await _record_fact(conn, envelope, changed.conversation_id, fact)


async def on_message_stored(conn: repo.Conn, event: Event, envelope: Envelope) -> None:
    """An inbound message: one more message in, on its local day and number."""
    stored = cast(MessageStored, event)
    day = await _local_day(conn, envelope.occurred_at)
    await repo.count_message(conn, envelope.tenant_id, day, stored.number_id, inbound=True)


async def on_message_added(conn: repo.Conn, event: Event, envelope: Envelope) -> None:
    """An outbound message: one more out; a person's reply (an agent's, an API key's, the
    owner's from the WhatsApp Business app) and the bot's message are facts."""
    added = cast(MessageAdded, event)
    if added.direction != "outbound":
        return  # private notes are not messages to the customer
    day = await _local_day(conn, envelope.occurred_at)
    number_id = added.number_id or await repo.conversation_number(conn, added.conversation_id)
    if number_id is not None:
        await repo.count_message(conn, envelope.tenant_id, day, number_id, inbound=False)
    if added.sender_kind == "bot":
        fact = Fact(at=envelope.occurred_at, kind="bot", number_id=number_id)
        await _record_fact(conn, envelope, added.conversation_id, fact)
        return
    if added.sender_kind == "business_app":
        # The owner answering from the WhatsApp Business app on the phone (an echo): the
        # customer got a person's answer, from no user of ours (no agent's reply count).
        fact = Fact(at=envelope.occurred_at, kind="reply", number_id=number_id)
        await _record_fact(conn, envelope, added.conversation_id, fact)
        return
    if added.sender_kind not in PERSON_SENDERS or added.sender_user_id is None:
        return
    await repo.count_reply(conn, envelope.tenant_id, day, added.sender_user_id, number_id)
    fact = Fact(
        at=envelope.occurred_at, kind="reply", number_id=number_id, user_id=added.sender_user_id
    )
    await _record_fact(conn, envelope, added.conversation_id, fact)


async def on_lead_captured(conn: repo.Conn, event: Event, envelope: Envelope) -> None:
    """A lead created or updated: its latest stage and first source."""
    lead = cast(LeadCaptured, event)
    await repo.upsert_lead(
        conn, envelope.tenant_id, lead.lead_id, lead.stage, lead.source, envelope.occurred_at
    )


def analytics_handlers(pool: Callable[[], asyncpg.Pool[Any]]) -> dict[str, Handler]:
    """`broadcast.analytics`: the events the rollups are made of, each handled once."""
    table = {
        ConversationUpdated.routing_key: on_conversation_updated,
        MessageStored.routing_key: on_message_stored,
        MessageAdded.routing_key: on_message_added,
        LeadCaptured.routing_key: on_lead_captured,
    }

    def lazily(fn: Any) -> Handler:
        async def handle(event: Event, envelope: Envelope) -> None:
            await idempotent(pool(), CONSUMER, fn)(event, envelope)

        return handle

    return {key: lazily(fn) for key, fn in table.items()}
