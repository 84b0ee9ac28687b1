"""Sliding-window rate limits against the real Redis: exact under races and random arrivals."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from majlis.ratelimit import Decision, Limit, RateLimiter, RedisUnavailable


@pytest.fixture
def limiter(redis_client: aioredis.Redis, prefix: str) -> RateLimiter:
    """A limiter on this test's prefix."""
    return RateLimiter(redis_client, prefix)


def unreachable_redis() -> aioredis.Redis:
    """A client for a port nothing listens on, without retries so the test stays fast."""
    return aioredis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


async def test_n_allowed_then_denied_with_headers(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("login", "ip1", limit=3, window_seconds=60) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.retry_after for d in decisions[:3]] == [0, 0, 0]
    first, denied = decisions[0], decisions[3]
    assert first.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "3;w=60",
    }
    assert 59 < denied.reset_after <= 60
    assert denied.retry_after == 60
    assert denied.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "3;w=60",
        "Retry-After": "60",
    }


async def test_idle_keys_expire(
    limiter: RateLimiter, redis_client: aioredis.Redis, prefix: str
) -> None:
    await limiter.hit("api", "t1", limit=5, window_seconds=7)
    assert 6000 < await redis_client.pttl(f"{prefix}rl:api:t1") <= 7000


async def test_peek_counts_nothing(limiter: RateLimiter) -> None:
    for _ in range(3):
        peeked = await limiter.peek("otp", "k", limit=2, window_seconds=60)
        assert (peeked.allowed, peeked.remaining) == (True, 2)
    await limiter.hit("otp", "k", limit=2, window_seconds=60)
    await limiter.hit("otp", "k", limit=2, window_seconds=60)
    full = await limiter.peek("otp", "k", limit=2, window_seconds=60)
    assert (full.allowed, full.remaining, full.retry_after) == (False, 0, 60)


async def test_window_slides(limiter: RateLimiter) -> None:
    async def hit() -> Decision:
        return await limiter.hit("slide", "k", limit=3, window_seconds=1)

    assert (await hit()).allowed
    assert (await hit()).allowed
    await asyncio.sleep(0.5)
    assert (await hit()).allowed
    denied = await hit()
    assert not denied.allowed
    assert denied.retry_after == 1
    # The oldest hits leave the window about 0.5 s from now; the third one stays in it.
    assert 0.3 < denied.reset_after <= 0.5
    await asyncio.sleep(denied.reset_after + 0.05)
    # A fixed window would now admit 3; the sliding window admits the 2 that left it.
    assert [(await hit()).allowed for _ in range(3)] == [True, True, False]


async def test_reset_forgets_hits(limiter: RateLimiter) -> None:
    assert (await limiter.hit("r", "k", limit=1, window_seconds=60)).allowed
    assert not (await limiter.hit("r", "k", limit=1, window_seconds=60)).allowed
    await limiter.reset("r", "k")
    assert (await limiter.hit("r", "k", limit=1, window_seconds=60)).allowed


async def test_separate_keys_are_independent(limiter: RateLimiter) -> None:
    assert (await limiter.hit("login", "a", limit=1, window_seconds=60)).allowed
    assert not (await limiter.hit("login", "a", limit=1, window_seconds=60)).allowed
    assert (await limiter.hit("login", "b", limit=1, window_seconds=60)).allowed
    assert (await limiter.hit("signup", "a", limit=1, window_seconds=60)).allowed


async def test_bad_arguments_are_refused(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="hash emails"):
        await limiter.hit("login", "someone@example.com", limit=1, window_seconds=60)
    with pytest.raises(ValueError, match="at least 1"):
        await limiter.hit("login", "k", limit=0, window_seconds=60)


# Each child connects, says "ready", waits for "go" on stdin, then fires its hits at once.
CHILD = """
import asyncio, json, sys
import redis.asyncio as aioredis
from majlis.ratelimit import RateLimiter

async def main(url, prefix, n):
    client = aioredis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    limiter = RateLimiter(client, prefix)
    await limiter.peek("race", "hot", limit=n, window_seconds=30)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    decisions = await asyncio.gather(
        *(limiter.hit("race", "hot", limit=n, window_seconds=30) for _ in range(n))
    )
    denied = [d.retry_after for d in decisions if not d.allowed]
    print(json.dumps({"allowed": n - len(denied), "retry_after": denied}), flush=True)
    await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_two_processes_racing_get_exactly_n(settings: Any, prefix: str) -> None:
    n = 30
    url = settings.redis_url.get_secret_value()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            url,
            prefix,
            str(n),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert await asyncio.wait_for(child.stdout.readline(), 20) == b"ready\n"
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            await child.stdin.drain()
        outputs = [
            json.loads((await asyncio.wait_for(child.communicate(), 20))[0]) for child in children
        ]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    assert [child.returncode for child in children] == [0, 0]
    assert sum(output["allowed"] for output in outputs) == n
    retry_afters = [value for output in outputs for value in output["retry_after"]]
    assert len(retry_afters) == n
    assert all(1 <= value <= 30 for value in retry_afters)


async def test_random_arrivals_never_exceed_the_limit_in_any_window(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    limit, window, duration, hits = 10, 1, 2.5, 300
    rng = random.Random(20240611)
    # Bursts and gaps: arrivals clustered around a few random instants, plus uniform noise.
    centres = [rng.uniform(0, duration) for _ in range(6)]
    offsets = sorted(
        min(duration, max(0.0, rng.gauss(rng.choice(centres), 0.05)))
        if rng.random() < 0.6
        else rng.uniform(0, duration)
        for _ in range(hits)
    )
    key = limiter.key_for("sched", "k")
    # The server-side log is the record of admitted hits, with the Redis clock's timestamps.
    # Every member stays in it for at least one window, so a snapshot every 0.2 s sees all.
    seen: dict[bytes, float] = {}
    stop = asyncio.Event()

    async def snapshot() -> None:
        while True:
            log = cast(
                list[tuple[bytes, float]], await redis_client.zrange(key, 0, -1, withscores=True)
            )
            for member, score in log:
                seen[member] = score
            if stop.is_set():
                return
            await asyncio.sleep(0.2)

    start = time.monotonic()

    async def arrive(offset: float) -> bool:
        await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
        decision = await limiter.hit("sched", "k", limit=limit, window_seconds=window)
        return decision.allowed

    watcher = asyncio.create_task(snapshot())
    results = await asyncio.gather(*(arrive(offset) for offset in offsets))
    stop.set()
    await watcher

    allowed = sum(results)
    assert allowed == len(seen)
    # Over 2.5 s with a 1 s window, at least two full windows' worth must have got through.
    assert allowed >= 2 * limit
    times = sorted(seen.values())  # microseconds, Redis clock
    for i in range(len(times) - limit):
        # Half-open windows [a, a + W): the (N+1)-th admitted hit after any hit is >= W later.
        assert times[i + limit] - times[i] >= window * 1_000_000, (i, times[i : i + limit + 1])


async def test_redis_unreachable_raises_redis_unavailable() -> None:
    client = unreachable_redis()
    limiter = RateLimiter(client, "majlis-test:down:")
    try:
        with pytest.raises(RedisUnavailable):
            await limiter.hit("login", "k", limit=5, window_seconds=60)
        with pytest.raises(RedisUnavailable):
            await limiter.peek("login", "k", limit=5, window_seconds=60)
        with pytest.raises(RedisUnavailable):
            await limiter.reset("login", "k")
    finally:
        await client.aclose()


async def test_hit_all_counts_like_hits_in_turn_and_stops_at_the_first_denial(
    limiter: RateLimiter,
) -> None:
    own, tenant = Limit("principal", "u1", 2, 60), Limit("tenant", "t1", 3, 60)
    first = await limiter.hit_all([own, tenant])
    assert [(d.allowed, d.remaining) for d in first] == [(True, 1), (True, 2)]
    await limiter.hit_all([own, tenant])
    # The person's limit refuses: one decision, and the tenant's hit asked with it is taken back.
    refused = await limiter.hit_all([own, tenant])
    assert [(d.allowed, d.remaining) for d in refused] == [(False, 0)]
    assert refused[0].retry_after >= 1
    tenant_now = await limiter.peek("tenant", "t1", limit=3, window_seconds=60)
    assert tenant_now.remaining == 1
    # The tenant's limit refuses another person's request: both decisions, the person's counted.
    other = Limit("principal", "u2", 5, 60)
    assert [d.allowed for d in await limiter.hit_all([other, tenant])] == [True, True]
    last = await limiter.hit_all([other, tenant])
    assert [(d.allowed, d.remaining) for d in last] == [(True, 3), (False, 0)]
    assert (await limiter.peek("principal", "u2", limit=5, window_seconds=60)).remaining == 3
