"""The bus against the real RabbitMQ (and PostgreSQL for idempotency): no mocks."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import aio_pika
import pytest
from pydantic import SecretStr

from majlis.db import tenant_transaction
from majlis.events import Envelope, Event, make_envelope, register_event
from majlis.messaging import (
    Bus,
    Consumer,
    Publisher,
    PublishError,
    QueueSpec,
    connect_publisher,
    dlq_name,
    idempotent,
    queue_name,
)
from majlis.messaging.publisher import publish_confirmed

if TYPE_CHECKING:  # fixtures' types only; conftest is pytest's to import
    from tests.integration.conftest import BusProbe, ConsumerFactory


@register_event
class BusThingHappened(Event):
    routing_key = "test.bus_thing.happened"

    thing_id: uuid.UUID
    label: str


@register_event
class NobodyListens(Event):
    # Outside `test.#`: no test queue is bound, so a publish of it is unroutable.
    routing_key = "unbound.thing.happened"

    n: int


def _envelope(tenant_id: uuid.UUID | None = None, label: str = "x") -> Envelope:
    event = BusThingHappened(thing_id=uuid.uuid4(), label=label)
    return make_envelope(event, tenant_id=tenant_id or uuid.uuid4())


async def test_published_event_reaches_its_handler_typed(
    bus: Bus, bus_queue: QueueSpec, start_consumer: ConsumerFactory, probe: BusProbe
) -> None:
    received: list[tuple[Event, Envelope]] = []
    done = asyncio.Event()

    async def on_thing(event: Event, envelope: Envelope) -> None:
        received.append((event, envelope))
        done.set()

    await start_consumer(bus_queue, {BusThingHappened.routing_key: on_thing})
    envelope = _envelope(label="hello")
    await Publisher(bus).publish(envelope)

    async with asyncio.timeout(5):
        await done.wait()
    [(event, got)] = received
    assert isinstance(event, BusThingHappened)
    assert event.label == "hello"
    assert got == envelope
    main = queue_name(bus.prefix, bus_queue.name)
    await probe.wait_until(lambda: _is_empty(probe, main))


async def _is_empty(probe: BusProbe, name: str) -> bool:
    return await probe.depth(name) == 0


async def test_events_without_a_handler_are_acked_and_ignored(
    bus: Bus, bus_queue: QueueSpec, start_consumer: ConsumerFactory, probe: BusProbe
) -> None:
    await start_consumer(bus_queue, {})
    await Publisher(bus).publish(_envelope())
    main = queue_name(bus.prefix, bus_queue.name)
    await probe.wait_until(lambda: _is_empty(probe, main))
    await asyncio.sleep(0.1)
    assert await probe.depth(dlq_name(bus.prefix, bus_queue.name)) == 0


async def test_redelivered_event_takes_effect_once(
    bus: Bus,
    bus_queue: QueueSpec,
    start_consumer: ConsumerFactory,
    probe: BusProbe,
    db_pool: Any,
    tenant_factory: Any,
) -> None:
    tenant = await tenant_factory()
    consumer = f"test-idem-{uuid.uuid4().hex[:8]}"
    effects: list[uuid.UUID] = []
    finished = 0

    async def work(conn: Any, event: Event, envelope: Envelope) -> None:
        effects.append(envelope.id)

    inner = idempotent(db_pool, consumer, work)

    async def counting(event: Event, envelope: Envelope) -> None:
        nonlocal finished
        await inner(event, envelope)
        finished += 1

    await start_consumer(bus_queue, {BusThingHappened.routing_key: counting})
    envelope = _envelope(tenant)
    publisher = Publisher(bus)
    await publisher.publish(envelope)
    await publisher.publish(envelope)  # what a redelivery looks like to the consumer

    async def both_handled() -> bool:
        return finished == 2

    await probe.wait_until(both_handled)
    assert effects == [envelope.id]
    async with tenant_transaction(db_pool, tenant) as conn:
        claims = await conn.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = $1 AND event_id = $2",
            consumer,
            envelope.id,
        )
    assert claims == 1


async def test_an_event_claimed_in_the_opening_round_trip_runs_once_however_it_arrives(
    db_pool: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    consumer = f"test-claim-{uuid.uuid4().hex[:8]}"
    effects: list[str] = []
    fail_next = True

    async def work(conn: Any, event: Event, envelope: Envelope) -> None:
        nonlocal fail_next
        await conn.execute("SELECT pg_sleep(0.05)")  # hold the claim while a duplicate arrives
        if fail_next:
            fail_next = False
            raise RuntimeError("the handler failed")
        effects.append(str(envelope.id))

    handle = idempotent(db_pool, consumer, work)
    envelope = _envelope(tenant)
    event = BusThingHappened(thing_id=uuid.uuid4(), label="x")
    # A failed handler leaves no claim: its retry runs.
    with pytest.raises(RuntimeError):
        await handle(event, envelope)
    # Two deliveries at once: the second waits on the first's claim, then sees it.
    await asyncio.gather(handle(event, envelope), handle(event, envelope))
    await handle(event, envelope)
    assert effects == [str(envelope.id)]
    async with tenant_transaction(db_pool, tenant) as conn:
        claims = await conn.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = $1", consumer
        )
    assert claims == 1


async def test_a_consumer_name_that_could_break_the_opening_query_is_refused(
    db_pool: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()

    async def work(conn: Any, event: Event, envelope: Envelope) -> None:
        raise AssertionError("must not run")

    for name in ("it's", "a;b", "", "UPPER"):
        with pytest.raises(ValueError, match="consumer name"):
            await idempotent(db_pool, name, work)(
                BusThingHappened(thing_id=uuid.uuid4(), label="x"), _envelope(tenant)
            )


async def test_failing_handler_is_retried_then_dead_lettered(
    bus: Bus, bus_queue: QueueSpec, start_consumer: ConsumerFactory, probe: BusProbe
) -> None:
    calls = 0

    async def always_fails(event: Event, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("handler broke")

    await start_consumer(bus_queue, {BusThingHappened.routing_key: always_fails})
    await Publisher(bus).publish(_envelope())

    dlq = dlq_name(bus.prefix, bus_queue.name)

    async def dead_lettered() -> bool:
        return await probe.depth(dlq) == 1

    await probe.wait_until(dead_lettered)
    assert calls == 1 + len(bus.retry_delays_ms)
    # It does not loop: well past the longest retry delay, nothing more happens.
    await asyncio.sleep(max(bus.retry_delays_ms) / 1000 + 0.3)
    assert calls == 1 + len(bus.retry_delays_ms)
    assert await probe.depth(dlq) == 1
    assert await probe.depth(queue_name(bus.prefix, bus_queue.name)) == 0


async def test_handler_that_recovers_is_acked_after_a_retry(
    bus: Bus, bus_queue: QueueSpec, start_consumer: ConsumerFactory, probe: BusProbe
) -> None:
    attempts: list[int] = []

    async def fails_once(event: Event, envelope: Envelope) -> None:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise RuntimeError("transient")

    await start_consumer(bus_queue, {BusThingHappened.routing_key: fails_once})
    await Publisher(bus).publish(_envelope())

    async def two_attempts() -> bool:
        return len(attempts) == 2

    await probe.wait_until(two_attempts)
    await probe.wait_until(lambda: _is_empty(probe, queue_name(bus.prefix, bus_queue.name)))
    await asyncio.sleep(0.3)
    assert len(attempts) == 2
    assert await probe.depth(dlq_name(bus.prefix, bus_queue.name)) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json at all", id="invalid-json"),
        pytest.param(b'{"id": "missing everything else"}', id="not-an-envelope"),
    ],
)
async def test_poison_message_goes_straight_to_the_dlq(
    body: bytes,
    bus: Bus,
    bus_queue: QueueSpec,
    start_consumer: ConsumerFactory,
    probe: BusProbe,
) -> None:
    calls = 0

    async def handler(event: Event, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1

    await start_consumer(bus_queue, {BusThingHappened.routing_key: handler})
    message = aio_pika.Message(body, message_id=str(uuid.uuid4()))
    await publish_confirmed(bus, message, routing_key=BusThingHappened.routing_key)

    dlq = dlq_name(bus.prefix, bus_queue.name)

    async def dead_lettered() -> bool:
        return await probe.depth(dlq) == 1

    # Well under the first retry delay would allow: a poison message is never retried.
    await probe.wait_until(dead_lettered, within=2)
    assert calls == 0
    assert await probe.get_message_id(dlq) == message.message_id


async def test_payload_that_does_not_validate_goes_straight_to_the_dlq(
    bus: Bus, bus_queue: QueueSpec, start_consumer: ConsumerFactory, probe: BusProbe
) -> None:
    calls = 0

    async def handler(event: Event, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1

    await start_consumer(bus_queue, {BusThingHappened.routing_key: handler})
    bad = _envelope().model_copy(update={"payload": {"thing_id": "nope", "label": 1}})
    await Publisher(bus).publish(bad)

    dlq = dlq_name(bus.prefix, bus_queue.name)

    async def dead_lettered() -> bool:
        return await probe.depth(dlq) == 1

    await probe.wait_until(dead_lettered, within=2)
    assert calls == 0


async def test_publish_raises_when_rabbitmq_refuses_connections(settings: Any) -> None:
    nowhere = settings.model_copy(update={"amqp_url": SecretStr("amqp://guest:guest@127.0.0.1:1/")})
    with pytest.raises(PublishError) as caught:
        await connect_publisher(nowhere)
    assert "guest:guest" not in str(caught.value)


async def test_publish_on_a_closed_bus_raises(settings: Any, bus_queue: QueueSpec) -> None:
    bus = await Bus.connect(settings)
    publisher = Publisher(bus)
    await publisher.publish(_envelope())  # the publishing channel is open and confirmed
    await bus.close()
    with pytest.raises(PublishError):
        await publisher.publish(_envelope())
    with pytest.raises(PublishError):
        await publisher.publish_many([_envelope(), _envelope()])


async def test_unroutable_publish_raises(bus: Bus, bus_queue: QueueSpec) -> None:
    envelope = make_envelope(NobodyListens(n=1), tenant_id=uuid.uuid4())
    with pytest.raises(PublishError, match="unroutable"):
        await Publisher(bus).publish(envelope)
    # The channel survives a returned message: the next publish is confirmed.
    await Publisher(bus).publish(_envelope())


async def test_publish_many_confirms_every_message(
    bus: Bus, bus_queue: QueueSpec, probe: BusProbe
) -> None:
    envelopes = [_envelope(label=str(i)) for i in range(500)]
    await Publisher(bus).publish_many(envelopes)
    assert await probe.depth(queue_name(bus.prefix, bus_queue.name)) == 500


async def test_stop_waits_for_in_flight_handlers(
    bus: Bus, bus_queue: QueueSpec, start_consumer: ConsumerFactory, probe: BusProbe
) -> None:
    started = asyncio.Event()
    finished: list[uuid.UUID] = []

    async def slow(event: Event, envelope: Envelope) -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(envelope.id)

    consumer = await start_consumer(bus_queue, {BusThingHappened.routing_key: slow})
    envelope = _envelope()
    await Publisher(bus).publish(envelope)
    async with asyncio.timeout(5):
        await started.wait()
    await consumer.stop()
    assert finished == [envelope.id]
    # Acked before the channel closed: nothing comes back to the queue.
    assert await probe.depth(queue_name(bus.prefix, bus_queue.name)) == 0


async def test_health_follows_the_connection(settings: Any) -> None:
    bus = await Bus.connect(settings)
    assert await bus.is_healthy()
    await bus.close()
    assert not await bus.is_healthy()


async def test_publish_without_a_confirm_in_time_raises(bus: Bus, bus_queue: QueueSpec) -> None:
    # No broker answers within a microsecond: the publish must fail, not pretend success.
    with pytest.raises(PublishError, match="no confirm"):
        await Publisher(bus, timeout=1e-6).publish(_envelope())
    await Publisher(bus).publish(_envelope())  # the channel is still usable afterwards


async def test_handlers_must_name_registered_events(bus: Bus, bus_queue: QueueSpec) -> None:
    async def handler(event: Event, envelope: Envelope) -> None:
        return None

    with pytest.raises(ValueError, match=r"test\.never\.registered"):
        Consumer(
            bus,
            bus_queue,
            {"test.never.registered": handler},
            consumer_name="test-typo",
            retry_delays_ms=bus.retry_delays_ms,
            prefetch=1,
        )
