"""The dispatcher's results (broadcast.message.sent/.failed) and Meta's status webhooks on the
replies agents queued: wamid linking, monotonic statuses, kept statuses, failures, isolation."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from majlis.db import tenant_transaction
from majlis.events import Envelope, Event, make_envelope, parse_envelope
from majlis.events.broadcast import MessageFailed, MessageSent
from majlis.events.webhook_ingest import StatusReceived
from majlis.messaging import Bus, QueueSpec, dlq_name, queue_name, retry_queue_name


@pytest.fixture(scope="module")
async def status_events(settings: Any) -> AsyncIterator[tuple[Bus, str]]:
    """A queue of this module bound to `inbox.message.status_changed`."""
    bus = await Bus.connect(settings, name="majlis-tests-outbound-results")
    spec = QueueSpec(f"tests.results.{uuid.uuid4().hex[:8]}", ("inbox.message.status_changed",))
    await bus.declare_topology([spec])
    yield bus, queue_name(bus.prefix, spec.name)
    channel = await bus.channel(publisher_confirms=False)
    await channel.queue_delete(queue_name(bus.prefix, spec.name))
    await channel.queue_delete(dlq_name(bus.prefix, spec.name))
    for attempt in range(1, len(bus.retry_delays_ms) + 1):
        await channel.queue_delete(retry_queue_name(bus.prefix, spec.name, attempt))
    await channel.close()
    await bus.close()


_SEEN: list[Envelope] = []


async def changes_of(
    status_events: tuple[Bus, str], message_id: uuid.UUID, count: int, within: float = 10.0
) -> list[str]:
    """The statuses published for a message, once `count` of them arrived."""
    bus, name = status_events

    def mine() -> list[str]:
        return [e.payload["status"] for e in _SEEN if e.payload["message_id"] == str(message_id)]

    async with asyncio.timeout(within):
        while len(mine()) < count:
            channel = await bus.channel(publisher_confirms=False)
            queue = await channel.declare_queue(name, passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                _SEEN.append(parse_envelope(message.body))
            await channel.close()
            await asyncio.sleep(0.05)
    return mine()


async def queued_reply(world: Any, team: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """(conversation id, message id) of a reply the agent queued."""
    conversation_id, _ = await world.inbound(team, phone=world.fresh_phone())
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE conversations SET assigned_user_id = $2, controller = 'human' WHERE id = $1",
            conversation_id,
            team.user_ids["agent"],
        )
    status, body, _ = await team.agent.request(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "text", "text": "On its way"},
    )
    assert status == 201, body
    return conversation_id, uuid.UUID(body["id"])


async def publish(world: Any, team: Any, event: Event) -> Envelope:
    envelope = make_envelope(event, tenant_id=team.tenant_id)
    await world.publisher.publish(envelope)
    return envelope


def meta_status(team: Any, wamid: str, status: str, **extra: Any) -> StatusReceived:
    now = datetime.now(UTC)
    item = {"id": wamid, "status": status, "timestamp": str(int(now.timestamp())), **extra}
    return StatusReceived(
        phone_number_id=team.phone_number_id, waba_id=team.waba_id, status=item, received_at=now
    )


async def state(world: Any, team: Any, message_id: uuid.UUID) -> tuple[Any, ...]:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        row = await conn.fetchrow(
            "SELECT status, wamid, error_code, error_title FROM messages WHERE id = $1", message_id
        )
    assert row is not None
    return tuple(row.values())


async def until(world: Any, team: Any, message_id: uuid.UUID, expected: tuple[Any, ...]) -> None:
    async with asyncio.timeout(10):
        while True:
            if await state(world, team, message_id) == expected:
                return
            await asyncio.sleep(0.03)


async def claims(world: Any, team: Any) -> int:
    async with tenant_transaction(world.pool, team.tenant_id, readonly=True) as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM processed_messages")
    return count


async def handled(world: Any, team: Any, before: int) -> None:
    """Wait until the inbox claimed one more event of the tenant."""
    async with asyncio.timeout(10):
        while True:
            if await claims(world, team) > before:
                return
            await asyncio.sleep(0.03)


def wamid() -> str:
    return "wamid.out" + secrets.token_hex(16)


async def test_sent_then_delivered_ends_delivered(
    inbox_world: Any, status_events: tuple[Bus, str]
) -> None:
    team = await inbox_world.team()
    _, message_id = await queued_reply(inbox_world, team)
    out = wamid()
    sent = await publish(inbox_world, team, MessageSent(message_id=message_id, wamid=out))
    await until(inbox_world, team, message_id, ("sent", out, None, None))
    await inbox_world.publisher.publish(sent)  # a redelivery: claimed already, changes nothing
    await publish(inbox_world, team, meta_status(team, out, "delivered"))
    await until(inbox_world, team, message_id, ("delivered", out, None, None))
    # A late "sent" webhook never moves it back.
    before = await claims(inbox_world, team)
    await publish(inbox_world, team, meta_status(team, out, "sent"))
    await handled(inbox_world, team, before)
    assert await state(inbox_world, team, message_id) == ("delivered", out, None, None)
    assert await changes_of(status_events, message_id, 2) == ["sent", "delivered"]


async def test_a_status_that_overtook_the_send_result_is_applied_with_it(
    inbox_world: Any, status_events: tuple[Bus, str]
) -> None:
    team = await inbox_world.team()
    _, message_id = await queued_reply(inbox_world, team)
    out = wamid()
    before = await claims(inbox_world, team)
    await publish(inbox_world, team, meta_status(team, out, "read"))
    await handled(inbox_world, team, before)
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        kept = await conn.fetchval("SELECT count(*) FROM pending_statuses WHERE wamid = $1", out)
    assert kept == 1
    assert (await state(inbox_world, team, message_id))[0] == "queued"
    await publish(inbox_world, team, MessageSent(message_id=message_id, wamid=out))
    await until(inbox_world, team, message_id, ("read", out, None, None))
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        kept = await conn.fetchval("SELECT count(*) FROM pending_statuses WHERE wamid = $1", out)
    assert kept == 0
    assert await changes_of(status_events, message_id, 2) == ["sent", "read"]


async def test_failures_apply_only_before_delivery(
    inbox_world: Any, status_events: tuple[Bus, str]
) -> None:
    team = await inbox_world.team()
    _, failing = await queued_reply(inbox_world, team)
    await publish(
        inbox_world,
        team,
        MessageFailed(message_id=failing, error_code=131047, error_title="Re-engagement message"),
    )
    await until(inbox_world, team, failing, ("failed", None, 131047, "Re-engagement message"))
    # A send result after the failure links the wamid but never un-fails the message.
    out = wamid()
    await publish(inbox_world, team, MessageSent(message_id=failing, wamid=out))
    await until(inbox_world, team, failing, ("failed", out, 131047, "Re-engagement message"))
    assert await changes_of(status_events, failing, 1) == ["failed"]
    # Once delivered, a failure report is too late.
    _, delivered = await queued_reply(inbox_world, team)
    out2 = wamid()
    await publish(inbox_world, team, MessageSent(message_id=delivered, wamid=out2))
    await publish(inbox_world, team, meta_status(team, out2, "delivered"))
    await until(inbox_world, team, delivered, ("delivered", out2, None, None))
    before = await claims(inbox_world, team)
    await publish(inbox_world, team, MessageFailed(message_id=delivered, error_code=1))
    await handled(inbox_world, team, before)
    assert await state(inbox_world, team, delivered) == ("delivered", out2, None, None)
    # Meta's own failed webhook on a sent message fails it, with Meta's code.
    _, sent_only = await queued_reply(inbox_world, team)
    out3 = wamid()
    await publish(inbox_world, team, MessageSent(message_id=sent_only, wamid=out3))
    await until(inbox_world, team, sent_only, ("sent", out3, None, None))
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    await publish(inbox_world, team, meta_status(team, out3, "failed", errors=errors))
    await until(inbox_world, team, sent_only, ("failed", out3, 131026, "Message undeliverable"))
    assert await changes_of(status_events, sent_only, 2) == ["sent", "failed"]


async def test_a_result_under_another_tenant_changes_nothing(inbox_world: Any) -> None:
    team, other = await inbox_world.team(), await inbox_world.team()
    _, message_id = await queued_reply(inbox_world, team)
    before = await claims(inbox_world, other)
    await publish(inbox_world, other, MessageSent(message_id=message_id, wamid=wamid()))
    await publish(inbox_world, other, MessageFailed(message_id=message_id, error_code=1))
    await handled(inbox_world, other, before + 1)
    assert await state(inbox_world, team, message_id) == ("queued", None, None, None)


async def test_a_campaigns_send_results_cost_the_inbox_nothing(inbox_world: Any) -> None:
    """Results of bulk sends (a campaign's, one per recipient) are never inbox messages: the
    inbox skips them without a transaction or a claim, while an interactive result is read."""
    team = await inbox_world.team()
    before = await claims(inbox_world, team)
    results: list[Event] = [
        MessageSent(message_id=uuid.uuid4(), wamid=wamid(), bulk=True),
        MessageFailed(message_id=uuid.uuid4(), error_code=131026, bulk=True),
    ]
    bulk = [await publish(inbox_world, team, result) for result in results]
    reply = await publish(inbox_world, team, MessageSent(message_id=uuid.uuid4(), wamid=wamid()))
    await handled(inbox_world, team, before)
    await asyncio.sleep(0.5)  # what was published before the reply had time to be handled too
    async with tenant_transaction(inbox_world.pool, team.tenant_id, readonly=True) as conn:
        rows = await conn.fetch("SELECT event_id FROM processed_messages")
    claimed = {row["event_id"] for row in rows}
    assert reply.id in claimed
    assert claimed.isdisjoint(e.id for e in bulk)
