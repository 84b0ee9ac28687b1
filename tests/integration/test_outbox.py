"""The transactional outbox and its relay, against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from majlis.db import create_pool, tenant_transaction
from majlis.events import Envelope, Event, make_envelope, register_event
from majlis.messaging import (
    Bus,
    OutboxRelay,
    Publisher,
    PublishError,
    QueueSpec,
    add_all_to_outbox,
    add_to_outbox,
    idempotent,
    queue_name,
)

if TYPE_CHECKING:  # fixtures' types only; conftest is pytest's to import
    from tests.integration.conftest import BusProbe, ConsumerFactory


@register_event
class OutboxThingHappened(Event):
    routing_key = "test.outbox_thing.happened"

    n: int


class Rollback(Exception):
    """Raised inside a transaction to make it roll back."""


class PublishThenCrash(Publisher):
    """Publishes for real, then fails before the relay can delete: a crash in between."""

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        await super().publish_many(envelopes)
        raise PublishError("simulated crash after publishing")


class StalledPublisher(Publisher):
    """Holds its batch (rows claimed, nothing confirmed yet) until released: a relay whose
    broker is slow to confirm."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        self.holding.set()
        await self.release.wait()
        await super().publish_many(envelopes)


@pytest.fixture(scope="session")
async def relay_pool(settings: Any) -> AsyncIterator[asyncpg.Pool[Any]]:
    """The relay's narrow role, exactly as the relay process opens it."""
    pool = await create_pool(
        settings.outbox_relay_database_url.get_secret_value(), min_size=1, max_size=2
    )
    yield pool
    await pool.close()


def _relay(pool: asyncpg.Pool[Any], publisher: Publisher, tenant: uuid.UUID) -> OutboxRelay:
    # Limited to this test's tenant: other suites running against the same database may
    # leave rows of their own, which this test must neither publish nor wait behind.
    return OutboxRelay(pool, publisher, batch_size=50, poll_interval=0.05, tenant_ids=[tenant])


async def _outbox_rows(relay_pool: asyncpg.Pool[Any], tenant: uuid.UUID) -> int:
    count: int = await relay_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE tenant_id = $1", tenant
    )
    return count


async def _add(db_pool: Any, tenant: uuid.UUID, n: int = 1) -> Envelope:
    envelope = make_envelope(OutboxThingHappened(n=n), tenant_id=tenant)
    async with tenant_transaction(db_pool, tenant) as conn:
        await add_to_outbox(conn, envelope)
    return envelope


async def test_rolled_back_event_is_never_published(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    tenant = await tenant_factory()
    envelope = make_envelope(OutboxThingHappened(n=1), tenant_id=tenant)

    async def add_then_roll_back() -> None:
        async with tenant_transaction(db_pool, tenant) as conn:
            await add_to_outbox(conn, envelope)
            raise Rollback

    with pytest.raises(Rollback):
        await add_then_roll_back()

    assert await _outbox_rows(relay_pool, tenant) == 0
    assert await _relay(relay_pool, Publisher(bus), tenant).run_once() == 0
    assert await probe.depth(queue_name(bus.prefix, bus_queue.name)) == 0


async def test_committed_event_is_published_exactly_once(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    tenant = await tenant_factory()
    envelope = await _add(db_pool, tenant)
    relay = _relay(relay_pool, Publisher(bus), tenant)

    assert await relay.run_once() == 1
    assert await relay.run_once() == 0
    assert await _outbox_rows(relay_pool, tenant) == 0
    main = queue_name(bus.prefix, bus_queue.name)
    assert await probe.depth(main) == 1
    assert await probe.get_message_id(main) == str(envelope.id)


async def test_app_role_cannot_read_or_delete_the_outbox(db_pool: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    await _add(db_pool, tenant)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(db_pool, tenant) as conn:
            await conn.fetch("SELECT * FROM outbox")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(db_pool, tenant) as conn:
            await conn.execute("DELETE FROM outbox")


async def test_relay_role_cannot_write_events(
    relay_pool: asyncpg.Pool[Any], tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await relay_pool.execute(
            "INSERT INTO outbox (tenant_id, id, routing_key, envelope) VALUES ($1, $2, $3, '{}')",
            tenant,
            uuid.uuid4(),
            "test.outbox_thing.happened",
        )


async def test_the_relay_role_reads_and_deletes_but_cannot_change_or_lock_rows(
    db_pool: Any, relay_pool: asyncpg.Pool[Any], tenant_factory: Any
) -> None:
    """Least privilege: relays take turns by advisory locks, so the role needs no UPDATE
    grant, not even the one-column one that FOR UPDATE asks for (migration 0029)."""
    tenant = await tenant_factory()
    await _add(db_pool, tenant)
    for statement in (
        "UPDATE outbox SET created_at = now() WHERE tenant_id = $1",
        "UPDATE outbox SET routing_key = 'test.other' WHERE tenant_id = $1",
        "UPDATE outbox SET envelope = '{}' WHERE tenant_id = $1",
        "SELECT seq FROM outbox WHERE tenant_id = $1 FOR UPDATE",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await relay_pool.execute(statement, tenant)
    assert await _outbox_rows(relay_pool, tenant) == 1


async def _hold_first_batch(
    bus: Bus, relay_pool: asyncpg.Pool[Any], tenant: uuid.UUID
) -> tuple[StalledPublisher, asyncio.Task[int]]:
    """A relay that took the tenant's first two rows and waits for its broker's confirms."""
    stalled = StalledPublisher(bus)
    slow = OutboxRelay(relay_pool, stalled, batch_size=2, poll_interval=0.05, tenant_ids=[tenant])
    slow_round = asyncio.create_task(slow.run_once())
    await asyncio.wait_for(stalled.holding.wait(), 10)
    return stalled, slow_round


async def test_a_relay_takes_other_tenants_while_another_relay_holds_one(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    """Relays of many processes share one outbox: while one waits for its broker's confirms,
    another publishes the other tenants' events instead of waiting for it."""
    held, free = await tenant_factory(), await tenant_factory()
    held_envelopes = [await _add(db_pool, held, n) for n in range(3)]
    free_envelopes = [await _add(db_pool, free, n) for n in range(2)]
    stalled, slow_round = await _hold_first_batch(bus, relay_pool, held)

    other = OutboxRelay(
        relay_pool, Publisher(bus), batch_size=50, poll_interval=0.05, tenant_ids=[held, free]
    )
    try:
        assert await asyncio.wait_for(other.run_once(), 10) == 2  # the free tenant's, at once
        assert await _outbox_rows(relay_pool, held) == 3  # nothing of the held tenant taken
    finally:
        stalled.release.set()
    assert await slow_round == 2
    assert await other.run_once() == 1  # the held tenant's third, now that its turn is free
    main = queue_name(bus.prefix, bus_queue.name)
    got = [await probe.get_message_id(main) for _ in range(5)]
    expected = free_envelopes + held_envelopes
    assert got == [str(e.id) for e in expected]  # each once
    assert await probe.depth(main) == 0


async def test_a_tenants_events_leave_in_order_however_many_relays_run(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    """A flow's text, image and question must reach the customer in that order: a relay never
    publishes a tenant's later events while another still holds its earlier ones, and takes
    them within moments of that relay's commit, not at its next poll."""
    tenant = await tenant_factory()
    envelopes = [await _add(db_pool, tenant, n) for n in range(4)]
    stalled, slow_round = await _hold_first_batch(bus, relay_pool, tenant)
    main = queue_name(bus.prefix, bus_queue.name)

    other = OutboxRelay(
        relay_pool, Publisher(bus), batch_size=50, poll_interval=30.0, tenant_ids=[tenant]
    )
    running = asyncio.create_task(other.run())
    try:
        await asyncio.sleep(0.3)  # several of the other relay's rounds
        assert await probe.depth(main) == 0  # the later two did not overtake the held two
        stalled.release.set()
        assert await slow_round == 2

        async def all_published() -> bool:
            return await probe.depth(main) == 4

        await probe.wait_until(all_published, within=5)  # not after the 30 s poll
    finally:
        stalled.release.set()
        await other.stop()
        await running
    got = [await probe.get_message_id(main) for _ in envelopes]
    assert got == [str(e.id) for e in envelopes]
    assert await _outbox_rows(relay_pool, tenant) == 0


async def test_one_tenants_backlog_does_not_hold_up_the_others(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    """A bulk change queues hundreds of one business's events; another business's event,
    committed after them, leaves in the relay's first round (each tenant found gets its share
    of the batch), not once the backlog has drained. The busy one's still leave in order."""
    busy, quiet = await tenant_factory(), await tenant_factory()
    backlog = [make_envelope(OutboxThingHappened(n=n), tenant_id=busy) for n in range(400)]
    async with tenant_transaction(db_pool, busy) as conn:
        await add_all_to_outbox(conn, backlog)
    waiting = await _add(db_pool, quiet)
    relay = OutboxRelay(
        relay_pool, Publisher(bus), batch_size=50, poll_interval=30.0, tenant_ids=[busy, quiet]
    )
    assert await relay.run_once() == 26  # half the batch for each: 25 of the busy's, the one
    assert await _outbox_rows(relay_pool, quiet) == 0
    # The rest goes round after round, not one short round per poll (30 s here).
    running = asyncio.create_task(relay.run())
    try:

        async def drained() -> bool:
            return await _outbox_rows(relay_pool, busy) == 0

        await probe.wait_until(drained, within=10)
    finally:
        await relay.stop()
        await running
    main = queue_name(bus.prefix, bus_queue.name)
    got = [await probe.get_message_id(main) for _ in range(len(backlog) + 1)]
    assert str(waiting.id) in got[:26]
    got.remove(str(waiting.id))
    assert got == [str(e.id) for e in backlog]  # each once, in order
    assert await probe.depth(main) == 0


async def _tenants_with_an_event(db_pool: Any, tenant_factory: Any, n: int) -> list[uuid.UUID]:
    """`n` new tenants in tenant id order (the relay's round robin order), one event each."""
    tenants = sorted([await tenant_factory() for _ in range(n)])
    for tenant in tenants:
        await _add(db_pool, tenant)
    return tenants


def _two_tenants_a_round(
    relay_pool: asyncpg.Pool[Any],
    bus: Bus,
    tenants: list[uuid.UUID],
    *,
    poll_interval: float = 0.05,
) -> OutboxRelay:
    return OutboxRelay(
        relay_pool,
        Publisher(bus),
        batch_size=50,
        poll_interval=poll_interval,
        tenant_ids=tenants,
        tenants_per_round=2,
    )


async def test_rounds_go_round_the_tenants_and_a_served_one_waits_its_next_turn(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    """Round robin: a round serves a bounded number of tenants; the next starts after the last
    one served and wraps around, so a tenant just served that writes again waits behind the
    tenants not reached yet instead of being served first every round."""
    tenants = await _tenants_with_an_event(db_pool, tenant_factory, 5)
    relay = _two_tenants_a_round(relay_pool, bus, tenants)
    assert await relay.run_once() == 2  # tenants 0 and 1
    again = await _add(db_pool, tenants[0], 2)
    assert await relay.run_once() == 2  # 2 and 3, not 0 again
    assert await _outbox_rows(relay_pool, tenants[0]) == 1
    assert await relay.run_once() == 2  # 4, then around to 0
    assert await relay.run_once() == 0
    main = queue_name(bus.prefix, bus_queue.name)
    got = [await probe.get_message_id(main) for _ in range(len(tenants) + 1)]
    assert got[-1] == str(again.id)
    assert await probe.depth(main) == 0


async def test_a_relay_goes_on_at_once_while_tenants_it_did_not_reach_wait(
    bus: Bus,
    bus_queue: QueueSpec,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
    probe: BusProbe,
) -> None:
    """A round that served as many tenants as it may is followed at once by the next, not by
    the poll: the tenants it did not reach have events waiting."""
    tenants = await _tenants_with_an_event(db_pool, tenant_factory, 5)
    relay = _two_tenants_a_round(relay_pool, bus, tenants, poll_interval=30.0)
    running = asyncio.create_task(relay.run())
    try:

        async def drained() -> bool:
            counts = [await _outbox_rows(relay_pool, tenant) for tenant in tenants]
            return sum(counts) == 0

        await probe.wait_until(drained, within=5)  # three rounds, not two polls of 30 s
    finally:
        await relay.stop()
        await running
    main = queue_name(bus.prefix, bus_queue.name)
    for _ in tenants:
        assert await probe.get_message_id(main) is not None
    assert await probe.depth(main) == 0


async def test_failed_publish_keeps_rows_for_a_later_run(
    settings: Any,
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    tenant = await tenant_factory()
    envelopes = [await _add(db_pool, tenant, n) for n in range(3)]

    broken = await Bus.connect(settings)
    await broken.close()
    with pytest.raises(PublishError):
        await _relay(relay_pool, Publisher(broken), tenant).run_once()
    assert await _outbox_rows(relay_pool, tenant) == 3

    assert await _relay(relay_pool, Publisher(bus), tenant).run_once() == 3
    assert await _outbox_rows(relay_pool, tenant) == 0
    main = queue_name(bus.prefix, bus_queue.name)
    got = {await probe.get_message_id(main) for _ in envelopes}
    assert got == {str(e.id) for e in envelopes}


async def test_run_relays_until_stopped(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    tenant = await tenant_factory()
    relay = _relay(relay_pool, Publisher(bus), tenant)
    task = asyncio.create_task(relay.run())
    try:
        await _add(db_pool, tenant)
        main = queue_name(bus.prefix, bus_queue.name)

        async def published() -> bool:
            return await probe.depth(main) == 1

        await probe.wait_until(published)
    finally:
        await relay.stop()
        async with asyncio.timeout(2):
            await task
    assert await _outbox_rows(relay_pool, tenant) == 0


async def test_event_relayed_twice_takes_effect_once(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    start_consumer: ConsumerFactory,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    tenant = await tenant_factory()
    consumer = f"test-outbox-{uuid.uuid4().hex[:8]}"
    effects: list[uuid.UUID] = []
    handled = 0

    async def work(conn: Any, event: Event, envelope: Envelope) -> None:
        effects.append(envelope.id)

    inner = idempotent(db_pool, consumer, work)

    async def counting(event: Event, envelope: Envelope) -> None:
        nonlocal handled
        await inner(event, envelope)
        handled += 1

    await start_consumer(bus_queue, {OutboxThingHappened.routing_key: counting})
    envelope = await _add(db_pool, tenant)

    # The first relay publishes and "crashes" before its delete commits; the row stays,
    # and the next relay publishes the same event again.
    with pytest.raises(PublishError):
        await _relay(relay_pool, PublishThenCrash(bus), tenant).run_once()
    assert await _outbox_rows(relay_pool, tenant) == 1
    assert await _relay(relay_pool, Publisher(bus), tenant).run_once() == 1

    async def both_delivered() -> bool:
        return handled == 2

    await probe.wait_until(both_delivered)
    assert effects == [envelope.id]
    async with tenant_transaction(db_pool, tenant) as conn:
        claims = await conn.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = $1 AND event_id = $2",
            consumer,
            envelope.id,
        )
    assert claims == 1


async def test_a_commit_wakes_the_relay_at_once(
    bus: Bus,
    bus_queue: QueueSpec,
    probe: BusProbe,
    db_pool: Any,
    relay_pool: asyncpg.Pool[Any],
    tenant_factory: Any,
) -> None:
    """A relay polling every 30 s still publishes a committed event within a second: the
    commit wakes it. A rolled-back transaction wakes nothing and publishes nothing."""
    tenant = await tenant_factory()
    relay = OutboxRelay(
        relay_pool, Publisher(bus), batch_size=50, poll_interval=30.0, tenant_ids=[tenant]
    )
    task = asyncio.create_task(relay.run())
    main = queue_name(bus.prefix, bus_queue.name)
    try:
        await asyncio.sleep(0.2)  # the relay's first round is done; it sleeps for 30 s now
        with pytest.raises(Rollback):
            async with tenant_transaction(db_pool, tenant) as conn:
                await add_to_outbox(conn, make_envelope(OutboxThingHappened(n=0), tenant_id=tenant))
                raise Rollback
        envelope = await _add(db_pool, tenant)

        async def published() -> bool:
            return await probe.depth(main) == 1

        await probe.wait_until(published, within=1.0)
        assert await probe.get_message_id(main) == str(envelope.id)
    finally:
        await relay.stop()
        async with asyncio.timeout(2):
            await task
    assert await _outbox_rows(relay_pool, tenant) == 0
