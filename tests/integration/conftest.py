"""Bus fixtures: a connected Bus, a per-test queue (deleted afterwards) and a probe.

Every name carries settings.bus_prefix (unique per run) and each test queue a suffix of its
own, so tests never see each other's messages or a running platform's bus.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest
import redis.asyncio as aioredis

from majlis.messaging import Bus, Consumer, Handler, QueueSpec, delete_topology

# Test events use routing keys under `test.`; every test queue takes all of them.
TEST_BINDINGS = ("test.#",)


class BusProbe:
    """Looks at queues from outside: depths, single messages, waiting for a condition."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def depth(self, name: str) -> int:
        """Ready messages in a queue (full name), by passive declare."""
        channel = await self.bus.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(name, passive=True)
            count = queue.declaration_result.message_count
            return int(count or 0)
        finally:
            await channel.close()

    async def get_message_id(self, name: str) -> str | None:
        """Take one message off a queue and return its message_id (None if empty)."""
        channel = await self.bus.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(name, passive=True)
            message = await queue.get(no_ack=True, fail=False)
            return None if message is None else message.message_id
        finally:
            await channel.close()

    @staticmethod
    async def wait_until(
        check: Callable[[], Awaitable[bool]], *, within: float = 5.0, interval: float = 0.02
    ) -> None:
        """Poll `check` until it is true; fail the test if it is not within `within` seconds."""
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(interval)


@pytest.fixture
async def redis_client(settings: Any) -> AsyncIterator[aioredis.Redis]:
    """A client on the test Redis, closed after the test."""
    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=5.0, socket_connect_timeout=5.0
    )
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(settings: Any, redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """The run's Redis prefix plus one of this test's own; its keys are deleted afterwards."""
    own = f"{settings.redis_prefix}{uuid.uuid4().hex[:10]}:"
    yield own
    keys = [key async for key in redis_client.scan_iter(match=f"{own}*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
async def bus(settings: Any) -> AsyncIterator[Bus]:
    """A connected bus with the test run's prefix."""
    connected = await Bus.connect(settings, name="majlis-tests")
    yield connected
    await connected.close()


@pytest.fixture
async def bus_queue(settings: Any) -> AsyncIterator[QueueSpec]:
    """A queue of this test's own (with DLQ and retry queues), bound to `test.#`."""
    spec = QueueSpec(f"t{uuid.uuid4().hex[:10]}.events", TEST_BINDINGS)
    # A bus of its own: the test may close the `bus` fixture on purpose.
    admin = await Bus.connect(settings, name="majlis-tests-topology")
    try:
        await admin.declare_topology([spec])
        yield spec
    finally:
        channel = await admin.channel(publisher_confirms=False)
        await delete_topology(channel, admin.prefix, [spec], admin.retry_delays_ms)
        await channel.close()
        await admin.close()


@pytest.fixture
def probe(bus: Bus) -> BusProbe:
    """Queue inspection on the test's bus."""
    return BusProbe(bus)


ConsumerFactory = Callable[[QueueSpec, Mapping[str, Handler]], Awaitable[Consumer]]


@pytest.fixture
async def start_consumer(bus: Bus) -> AsyncIterator[ConsumerFactory]:
    """Starts consumers on the test's bus; stops them (gracefully) at the end of the test."""
    started: list[Consumer] = []

    async def start(spec: QueueSpec, handlers: Mapping[str, Handler]) -> Consumer:
        consumer = Consumer(
            bus,
            spec,
            handlers,
            consumer_name=f"test-{spec.name}",
            retry_delays_ms=bus.retry_delays_ms,
            prefetch=16,
        )
        await consumer.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        await consumer.stop()


@pytest.fixture(scope="session")
async def graph_simulator(settings: Any) -> AsyncIterator[str]:
    """A real Graph API simulator on a free local port."""
    from majlis.graphsim import SimulatorConfig
    from majlis.graphsim.testing import running_simulator

    config = SimulatorConfig(
        app_secret=settings.meta_app_secret.get_secret_value(),
        webhook_url="http://127.0.0.1:9/unused",
    )
    async with running_simulator(config) as url:
        yield url
