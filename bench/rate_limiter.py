"""Benchmark S6: rate-limit decisions per second from one process (not a test).

Drives `majlis.ratelimit.RateLimiter.hit` (the sliding-window Lua script the gateway uses)
against the test Redis under a bench prefix of its own: 64 concurrent asyncio tasks on one hot
key, then on 10,000 keys, then 4 processes (64 tasks each) competing for one hot key, for
`BENCH_LIMITER_S` seconds each; and redis-benchmark running the same script (EVALSHA, 50
clients) for the server-side ceiling. Reports decisions/s, p50/p99 decision latency, and on
the hot key whether exactly `limit` hits were granted in a window no decision outlived
(over-grant must be 0, also across processes). Prints one JSON line per run; the bench
prefix's keys are deleted at the end. Exits 0 whether or not the target is met.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import redis.asyncio as aioredis

from majlis.ratelimit import _SLIDING_WINDOW, RateLimiter
from majlis.settings import load_settings

DURATION_S = float(os.environ.get("BENCH_LIMITER_S", "5"))
TASKS = 64
TARGET_PER_S = 10_000
TARGET_P99_MS = 2.0
# The hot key's window is longer than the run, so every grant stays inside one window.
HOT_LIMIT = 5_000
PROCESSES = 4
SERVER_REQUESTS = 200_000


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


async def _worker(prefix: str) -> None:
    """One of the competing processes: 64 tasks on the shared hot key, one JSON line."""
    settings = load_settings()
    client = aioredis.from_url(settings.redis_url.get_secret_value())
    try:
        print(json.dumps(await _drive(RateLimiter(client, prefix), 1, HOT_LIMIT, 3600)))
    finally:
        await client.aclose()


async def _competing(prefix: str) -> dict[str, Any]:
    """PROCESSES processes on one hot key: summed decisions/s, worst p99, grants across all."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", prefix, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for child in children:
        out, _ = await child.communicate()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    decisions = sum(r["decisions"] for r in results)
    granted = sum(r["granted"] for r in results)
    return {
        "decisions": decisions,
        "decisions_per_s": sum(r["decisions_per_s"] for r in results),
        "per_process_per_s": [r["decisions_per_s"] for r in results],
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "granted": granted,
        "limit": HOT_LIMIT,
        "over_granted": max(0, granted - HOT_LIMIT),
        "exact": granted == min(HOT_LIMIT, decisions),
    }


async def _server_ceiling(client: aioredis.Redis, url: str, prefix: str) -> dict[str, Any] | None:
    """redis-benchmark with the same script (EVALSHA, a random nonce per call); None if absent."""
    tool = shutil.which("redis-benchmark")
    if tool is None:
        return None
    sha = await client.script_load(_SLIDING_WINDOW)
    where = urlparse(url)
    key = f"{prefix}rl:server:hot"
    child = await asyncio.create_subprocess_exec(
        tool, "-h", where.hostname or "127.0.0.1", "-p", str(where.port or 6379),
        "-n", str(SERVER_REQUESTS), "-c", "50", "-r", "1000000000", "--csv",
        "EVALSHA", sha, "1", key, str(10**9), "3600000", "hit", "__rand_int__",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await child.communicate()
    # --csv: a header line, then "test","rps","avg_latency_ms","min","p50","p95","p99","max"
    rows = [line for line in out.decode().splitlines() if line.startswith('"EVALSHA')]
    if not rows:
        return None
    fields = [f.strip('"') for f in re.split(r",(?=\")", rows[-1])]
    return {"decisions_per_s": round(float(fields[1])), "p50_ms": float(fields[4]),
            "p99_ms": float(fields[6])}  # fmt: skip


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
        compete = await _competing(prefix + "compete:")
        print(
            json.dumps(
                {
                    "scenario": f"rate limiter S6, one hot key, {PROCESSES} processes x 64 tasks",
                    **compete,
                    "target": f">= {TARGET_PER_S}/s per process, p99 < {TARGET_P99_MS} ms,"
                    " exact grants",
                    "target_met": min(compete["per_process_per_s"]) >= TARGET_PER_S
                    and compete["p99_ms"] < TARGET_P99_MS
                    and compete["exact"],
                }
            ),
            flush=True,
        )
        server = await _server_ceiling(client, settings.redis_url.get_secret_value(), prefix)
        if server is not None:
            print(
                json.dumps(
                    {
                        "scenario": "rate limiter S6 server ceiling: redis-benchmark, same script",
                        **server,
                        "target": "(the server's ceiling)",
                        "target_met": None,
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
    entry = _worker(sys.argv[2]) if sys.argv[1:2] == ["--worker"] else main()
    try:
        import uvloop

        uvloop.run(entry)
    except ImportError:
        asyncio.run(entry)
