"""The dispatcher's per-recipient turns: first come, first served per key, keys independent,
and nothing kept once a key is idle (a dispatcher sees millions of recipients)."""

from __future__ import annotations

import asyncio

from broadcast.dispatcher import Turns


async def test_turns_are_served_in_the_order_asked_and_forgotten_when_idle() -> None:
    turns, order = Turns(), []
    gate = asyncio.Event()

    async def use(key: str, name: str, hold: bool = False) -> None:
        async with turns.turn(key):
            if hold:
                await gate.wait()
            order.append(name)

    tasks = [asyncio.create_task(use("a", "a1", hold=True))]
    tasks += [asyncio.create_task(use("a", f"a{i}")) for i in range(2, 6)]
    tasks.append(asyncio.create_task(use("b", "b1")))
    await asyncio.sleep(0.01)
    assert order == ["b1"]  # another key does not wait for "a"
    assert len(turns) == 1
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["b1", "a1", "a2", "a3", "a4", "a5"]
    assert len(turns) == 0


async def test_a_failing_holder_passes_the_turn_on() -> None:
    turns = Turns()

    async def fail() -> None:
        async with turns.turn("k"):
            raise RuntimeError("Meta said no")

    first = asyncio.create_task(fail())

    async def later() -> str:
        async with turns.turn("k"):
            return "sent"

    second = asyncio.create_task(later())
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert results[1] == "sent"
    assert len(turns) == 0
