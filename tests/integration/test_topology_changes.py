"""A newer release's topology against a bus an older one declared (the real RabbitMQ).

declare_topology runs through a channel that only notes each bind and unbind before passing it
on, so the order the broker saw them in can be checked.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import aio_pika
from aio_pika.abc import AbstractChannel

from majlis.messaging import (
    Bus,
    QueueSpec,
    declare_topology,
    delete_topology,
    exchange_name,
    queue_name,
)


class _NotedQueue:
    def __init__(self, queue: Any, notes: list[tuple[str, str, str]]) -> None:
        self._queue, self._notes = queue, notes

    async def bind(self, exchange: Any, routing_key: str) -> Any:
        self._notes.append(("bind", self._queue.name, routing_key))
        return await self._queue.bind(exchange, routing_key=routing_key)

    async def unbind(self, exchange: Any, routing_key: str) -> Any:
        self._notes.append(("unbind", self._queue.name, routing_key))
        return await self._queue.unbind(exchange, routing_key=routing_key)


class _NotedChannel:
    def __init__(self, channel: AbstractChannel, notes: list[tuple[str, str, str]]) -> None:
        self._channel, self._notes = channel, notes

    async def declare_exchange(self, *args: Any, **kwargs: Any) -> Any:
        return await self._channel.declare_exchange(*args, **kwargs)

    async def declare_queue(self, *args: Any, **kwargs: Any) -> Any:
        return _NotedQueue(await self._channel.declare_queue(*args, **kwargs), self._notes)


async def test_an_event_type_moving_to_another_queue_always_has_one(bus: Bus) -> None:
    prefix = f"{bus.prefix}topology.{uuid.uuid4().hex[:8]}."
    old = [QueueSpec("first", ("x.moved", "x.stays"))]
    new = [
        QueueSpec("first", ("x.stays",), retired_bindings=("x.moved",)),
        QueueSpec("second", ("x.moved",)),
    ]
    channel = await bus.channel(publisher_confirms=True)
    try:
        await declare_topology(channel, prefix, old, (1000,))
        notes: list[tuple[str, str, str]] = []
        await declare_topology(
            cast(AbstractChannel, _NotedChannel(channel, notes)), prefix, new, (1000,)
        )
        first, second = queue_name(prefix, "first"), queue_name(prefix, "second")
        assert notes.index(("bind", second, "x.moved")) < notes.index(("unbind", first, "x.moved"))
        # And the routing it converged on: each key reaches its one queue.
        exchange = await channel.get_exchange(exchange_name(prefix))
        for key in ("x.moved", "x.stays"):
            await exchange.publish(aio_pika.Message(key.encode()), routing_key=key)
        for name, expected in ((first, b"x.stays"), (second, b"x.moved")):
            queue = await channel.declare_queue(name, passive=True)
            message = await queue.get(no_ack=True, fail=False, timeout=5)
            assert message is not None
            assert message.body == expected
            assert await queue.get(no_ack=True, fail=False) is None
    finally:
        await delete_topology(channel, prefix, new, (1000,))
        await channel.close()
