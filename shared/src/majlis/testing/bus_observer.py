"""Tests watch the bus: every event matching some routing patterns, handed to a callback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aio_pika

from majlis.messaging import Bus, exchange_name


async def observe(
    bus: Bus, name: str, patterns: Sequence[str], on_event: Callable[[str, dict[str, Any]], None]
) -> Callable[[], Awaitable[None]]:
    """Call `on_event(type, payload)` for each event published under `bus`'s prefix that
    matches one of `patterns`, in arrival order; returns what stops it (deletes the queue)."""
    channel = await bus.channel(publisher_confirms=False)
    queue = await channel.declare_queue(
        f"{bus.prefix}.t{uuid.uuid4().hex[:10]}.{name}-observer", exclusive=True
    )
    exchange = await channel.get_exchange(exchange_name(bus.prefix), ensure=False)
    for pattern in patterns:
        await queue.bind(exchange, routing_key=pattern)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        envelope = json.loads(message.body)
        on_event(envelope["type"], envelope["payload"])
        await message.ack()

    await queue.consume(on_message)

    async def stop() -> None:
        await queue.delete(if_unused=False, if_empty=False)
        await channel.close()

    return stop
