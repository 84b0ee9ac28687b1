"""The dispatcher's last guard before Meta: never more than the rate in any span, whatever
the schedule upstream did (a burst of late sends is spread, not sent at once)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from broadcast.pacing import SendWindow, departure_trace


async def test_a_burst_is_held_to_the_rate_in_every_span() -> None:
    window, loop = SendWindow(span_s=0.2), asyncio.get_running_loop()
    admitted: list[float] = []

    async def send() -> None:
        await window.admit("number", 5)
        admitted.append(loop.time())

    started = loop.time()
    await asyncio.gather(*(send() for _ in range(12)))
    admitted.sort()
    # 12 sends at 5 per 0.2 s: the 6th waits a span, the 11th two.
    assert admitted[4] - started < 0.05
    assert admitted[5] - started >= 0.2
    assert admitted[10] - started >= 0.4
    for i in range(len(admitted) - 5):
        assert admitted[i + 5] - admitted[i] >= 0.2 - 1e-6  # no 6 inside one span


async def test_numbers_are_counted_apart() -> None:
    window, loop = SendWindow(span_s=0.5), asyncio.get_running_loop()
    started = loop.time()
    for _ in range(3):
        await window.admit("a", 3)
    await window.admit("b", 3)
    assert loop.time() - started < 0.05


async def test_a_send_counts_from_when_its_request_left() -> None:
    # A request that leaves late (a new connection, a busy loop) reaches Meta late: the next
    # send's second is counted from its departure, not from its admission.
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    window, loop = SendWindow(span_s=0.2), asyncio.get_running_loop()
    async with (
        TestServer(app) as server,
        aiohttp.ClientSession(trace_configs=[departure_trace()]) as session,
    ):

        async def send(delay: float) -> float:
            await window.admit("number", 1)
            admitted = loop.time()
            await asyncio.sleep(delay)  # between the admission and the socket
            async with session.get(server.make_url("/")) as response:
                assert response.status == 200
            return admitted

        first = await asyncio.create_task(send(0.1))
        second = await asyncio.create_task(send(0))
    assert second - first >= 0.3 - 1e-3  # 0.1 late departure + the 0.2 span
