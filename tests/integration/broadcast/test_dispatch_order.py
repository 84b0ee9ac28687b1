"""One recipient's interactive sends reach Meta one after the other, in the order they were
queued (each waits for Meta's answer to the one before), while other recipients' sends do not
wait for them. Against a simulator that answers in 300 ms, so overlapping calls would show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from majlis.graphsim import SimulatorConfig
from majlis.graphsim.testing import running_simulator

DispatchWorld = Any
LATENCY_S = 0.3


@pytest.fixture(scope="module")
async def graph_simulator(settings: Any) -> AsyncIterator[str]:
    """This module's simulator (the dispatch world's): every Graph call answered 300 ms late."""
    config = SimulatorConfig(
        app_secret=settings.meta_app_secret.get_secret_value(),
        webhook_url="http://127.0.0.1:9/unused",
        latency_ms=round(LATENCY_S * 1000),
    )
    async with running_simulator(config) as url:
        yield url


async def test_one_recipients_replies_go_in_order_one_at_a_time(
    dispatch_world: DispatchWorld,
) -> None:
    world = dispatch_world
    number = await world.number()
    first, second = world.fresh_phone(), world.fresh_phone()
    for to in (first, second):
        await world.open_window(number, to)
    # Queued back to back, as one flow step's messages are (the pair limit allows two at once).
    ids = [
        await world.send(number, first, "Welcome"),
        await world.send(number, first, "Your email?"),
        await world.send(number, second, "Hello"),
    ]
    for message_id in ids:
        await world.state_becomes(number, message_id, "sent", within=10)
    sent = await world.sent(number)
    mine = [s for s in sent if s["to"] == first]
    assert [s["payload"]["text"]["body"] for s in mine] == ["Welcome", "Your email?"]
    # The second went only once Meta had answered the first ...
    gap = mine[1]["accepted_at"] - mine[0]["accepted_at"]
    assert gap >= LATENCY_S * 0.9, gap
    # ... while the other recipient's send did not wait behind them.
    [other] = [s for s in sent if s["to"] == second]
    assert abs(other["accepted_at"] - mine[0]["accepted_at"]) < LATENCY_S * 0.9


async def test_bulk_sends_to_one_recipient_do_not_wait_for_each_other(
    dispatch_world: DispatchWorld,
) -> None:
    world = dispatch_world
    number = await world.number()
    to = world.fresh_phone()
    await world.open_window(number, to)
    ids = [await world.send(number, to, text, bulk=True) for text in ("Offer", "Reminder")]
    await asyncio.gather(*(world.state_becomes(number, m, "sent", within=10) for m in ids))
    sent = await world.sent(number)
    assert len(sent) == 2
    assert abs(sent[1]["accepted_at"] - sent[0]["accepted_at"]) < LATENCY_S * 0.9
