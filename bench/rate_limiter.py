"""Benchmark S6: rate-limit decisions per second from one process (not a test).

Drives `majlis.ratelimit.RateLimiter.hit` (the sliding-window Lua script the gateway uses)
against the test Redis under a bench prefix of its own: 64 concurrent asyncio tasks on one hot
key, then on 10,000 keys, for `BENCH_LIMITER_S` seconds each. Reports decisions/s, p50/p99
decision latency, and on the hot key whether exactly `limit` hits were granted in a window no
decision outlived (over-grant must be 0). Prints one JSON line per run; the bench prefix's keys
are deleted at the end. Exits 0 whether or not the target is met.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from majlis.ratelimit import RateLimiter
from majlis.settings import load_settings

DURATION_S = float(os.environ.get("BENCH_LIMITER_S", "5"))
TASKS = 64
TARGET_PER_S = 10_000
TARGET_P99_MS = 2.0
# The hot key's window is longer than the run, so every grant stays inside one window.
HOT_LIMIT = 5_000


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return round(sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))], 3)


async def _drive(limiter: RateLimiter, keys: int, limit: int, window_s: int) -> dict[str, Any]:
    latencies: list[float] = []
    granted = 0
    deadline = time.perf_counter() + DURATION_S

    async def worker(index: int) -> None:
        nonlocal granted
        n = index
        while time.perf_counter() < deadline:
            key = f"k{n % keys}"
            n += TASKS
            start = time.perf_counter()
            decision = await limiter.hit("bench", key, limit=limit, window_seconds=window_s)
            latencies.append((time.perf_counter() - start) * 1000)
            granted += decision.allowed

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(TASKS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "decisions": len(latencies),
        "decisions_per_s": round(len(latencies) / elapsed),
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "granted": granted,
    }


async def main() -> None:
    settings = load_settings()
    prefix = f"majlis-bench:{uuid.uuid4().hex[:8]}:"
    client = aioredis.from_url(settings.redis_url.get_secret_value())
    limiter = RateLimiter(client, prefix)
    try:
        hot = await _drive(limiter, 1, HOT_LIMIT, 3600)
        over = max(0, hot["granted"] - HOT_LIMIT)
        expected = min(HOT_LIMIT, hot["decisions"])
        print(
            json.dumps(
                {
                    "scenario": "rate limiter S6, one hot key, 64 tasks",
                    **hot,
                    "limit": HOT_LIMIT,
                    "over_granted": over,
                    "exact": hot["granted"] == expected,
                    "target": f">= {TARGET_PER_S}/s, p99 < {TARGET_P99_MS} ms, exact grants",
                    "target_met": hot["decisions_per_s"] >= TARGET_PER_S
                    and hot["p99_ms"] < TARGET_P99_MS
                    and hot["granted"] == expected,
                }
            ),
            flush=True,
        )
        spread = await _drive(limiter, 10_000, 100, 60)
        print(
            json.dumps(
                {
                    "scenario": "rate limiter S6, 10,000 keys, 64 tasks",
                    **spread,
                    "target": f">= {TARGET_PER_S}/s, p99 < {TARGET_P99_MS} ms",
                    "target_met": spread["decisions_per_s"] >= TARGET_PER_S
                    and spread["p99_ms"] < TARGET_P99_MS,
                }
            ),
            flush=True,
        )
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
