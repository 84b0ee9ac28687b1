"""The number's send schedule in the real Redis: even spacing, and a work-conserving reserve."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import pytest
import redis.asyncio as aioredis

from broadcast.pacing import SCHEDULE_HEADROOM, NumberRateLimiter

RATE = 10  # slots 1/(10 x SCHEDULE_HEADROOM) s ≈ 101.5 ms apart
SHARE = 0.8  # bulk's share while replies are sent: ≈ 127 ms apart; interactive's: ≈ 507 ms
SPACING_MS = 1000 / (RATE * SCHEDULE_HEADROOM)  # one kind alone, the whole rate
SLACK_MS = 25.0  # time passing between two calls of a test, on a loaded machine


@pytest.fixture
async def limiter(settings: Any) -> AsyncIterator[NumberRateLimiter]:
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    prefix = f"{settings.redis_prefix}{uuid.uuid4().hex[:10]}:"
    yield NumberRateLimiter(
        client, prefix, bulk_share=SHARE, interactive_memory_s=30, bulk_horizon_s=0.5
    )
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _slots(
    limiter: NumberRateLimiter, number: uuid.UUID, *, bulk: bool, n: int
) -> list[float]:
    """When each of n consecutive reservations may go, in ms after the first call."""
    start, slots = time.monotonic(), []
    for _ in range(n):
        wait = await limiter.reserve(number, RATE, bulk=bulk)
        assert wait >= 0
        slots.append((time.monotonic() - start) * 1000 + wait)
    return slots


def _gaps(slots: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(slots)]


async def test_sends_of_one_kind_are_evenly_spaced_at_the_whole_rate(
    limiter: NumberRateLimiter,
) -> None:
    for bulk in (True, False):
        gaps = _gaps(await _slots(limiter, uuid.uuid4(), bulk=bulk, n=5))
        assert all(abs(gap - SPACING_MS) < SLACK_MS for gap in gaps), gaps


async def test_while_replies_are_sent_bulk_keeps_to_its_share(limiter: NumberRateLimiter) -> None:
    number = uuid.uuid4()
    assert await limiter.reserve(number, RATE, bulk=False) >= 0
    gaps = _gaps(await _slots(limiter, number, bulk=True, n=4))
    assert all(abs(gap - SPACING_MS / SHARE) < SLACK_MS for gap in gaps), gaps
    # ...and replies keep the rest, on their own timeline: never behind the campaign's slots.
    first_reply = await limiter.reserve(number, RATE, bulk=False)
    assert first_reply < 1000 / (RATE * SCHEDULE_HEADROOM * (1 - SHARE)) + SLACK_MS


async def test_bulk_never_reserves_past_its_horizon(limiter: NumberRateLimiter) -> None:
    number, interval = uuid.uuid4(), SPACING_MS
    started = time.monotonic()
    calls: list[tuple[float, float]] = []  # (ms since start, wait)
    for _ in range(10):
        wait = await limiter.reserve(number, RATE, bulk=True)
        calls.append(((time.monotonic() - started) * 1000, wait))
    waits = [w for _, w in calls]
    elapsed_ms = calls[-1][0]
    reserved = [w for w in waits if w >= 0]
    # 0, 101.5, ..., 406 ms lie within 0.5 s; more only as the clock moves on between calls.
    assert all(w >= 0 for w in waits[:5]), waits
    assert 5 <= len(reserved) <= 7 + elapsed_ms / interval
    if elapsed_ms < interval:  # the clock freed no slot: the horizon filled, calls refused
        assert len(reserved) < len(waits), waits
    # After the first refusal, a slot is taken only as the clock frees one (on a loaded
    # machine the calls are slow enough for that): never more than time explains.
    first_refused = next((i for i, w in enumerate(waits) if w < 0), len(waits))
    if first_refused < len(waits):
        later = [t for t, w in calls[first_refused:] if w >= 0]
        assert len(later) <= 1 + (elapsed_ms - calls[first_refused][0]) / interval, calls
    assert max(reserved) <= 500 + interval


async def test_numbers_do_not_share_schedules(limiter: NumberRateLimiter) -> None:
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    await _slots(limiter, busy, bulk=False, n=5)
    assert await limiter.reserve(quiet, RATE, bulk=False) < SLACK_MS


async def test_a_send_that_wakes_late_takes_a_fresh_slot(limiter: NumberRateLimiter) -> None:
    # Sends that all wake late after a stall must not leave at once (a burst at Meta).
    number = uuid.uuid4()
    assert await limiter.reserve(number, RATE, bulk=False) < SLACK_MS  # the slot of "now"
    loop_now = asyncio.get_running_loop().time()
    started = time.monotonic()
    await limiter.keep(loop_now - 1.0, number, RATE, bulk=False)  # a slot missed by 1 s
    # It waited for the next free slot, ≈ 101.5 ms after the one just taken.
    assert (time.monotonic() - started) * 1000 > SPACING_MS - SLACK_MS


async def test_bulk_sends_beyond_the_horizon_queue_instead_of_polling(
    limiter: NumberRateLimiter,
) -> None:
    # 15 prefetched bulk sends at 10/s: 5 slots fit the 0.5 s horizon, the rest wait. They
    # queue behind one asker, which asks again only when a slot comes within the horizon:
    # about two asks per send, not a poll of Redis per waiter.
    number, interval = uuid.uuid4(), 1 / (RATE * SCHEDULE_HEADROOM)
    asks = 0
    reserve = limiter.reserve

    async def counted(number_id: uuid.UUID, rate: int, *, bulk: bool) -> float:
        nonlocal asks
        asks += 1
        return await reserve(number_id, rate, bulk=bulk)

    limiter.reserve = counted  # type: ignore[method-assign]
    slots = sorted(
        await asyncio.gather(*(limiter.slot(number, RATE, bulk=True) for _ in range(15)))
    )
    # One timeline, no slot lost or shared: a lost slot leaves a gap of two intervals, a shared
    # one a gap of none. The slots are read on this process's clock after each answer, so each
    # carries the answer's trip back (milliseconds on a loaded machine): the file's slack.
    gaps = _gaps(slots)
    assert all(abs(gap - interval) < SLACK_MS / 1000 for gap in gaps), gaps
    assert asks <= 2 * 15 + 3, asks


async def test_a_wake_late_for_the_claim_lead_but_in_time_for_the_slot_keeps_it(
    limiter: NumberRateLimiter,
) -> None:
    # The dispatcher wakes `lead_s` before its slot to commit its claim; a busy loop that
    # wakes it late for the lead but still before the slot must not give the slot up.
    loop = asyncio.get_running_loop()
    slot = loop.time() + 0.02
    kept = await limiter.keep(slot, uuid.uuid4(), RATE, bulk=True, lead_s=0.2)  # woke 180 ms late
    assert kept == slot
