"""Benchmark: authenticated requests per second through the gateway (not a test).

Starts a real gateway process against the test database, Redis and RabbitMQ, signs one user
in, then drives `GET /api/v1/me` (JWT verify + revocation MGET + two sliding-window limits in
Redis + one read-only tenant transaction) from a separate load process with a fixed number of
connections for a fixed time. Prints requests/s and p50/p99 latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid

import aiohttp

from majlis.testing.benchmarks import clean_up, free_port, wait_ready

DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))


async def _drive(base: str, token: str) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + DURATION_S
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(f"{base}/api/v1/me", headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return len(latencies), errors, latencies


async def main() -> None:
    port = free_port()
    env = os.environ | {
        "MAJLIS_GATEWAY_PORT": str(port),
        "MAJLIS_LOG_LEVEL": "warning",
        "MAJLIS_REDIS_PREFIX": f"majlis-bench:{uuid.uuid4().hex[:8]}:",
        "MAJLIS_BUS_PREFIX": f"bench.{uuid.uuid4().hex[:8]}.",
        # The limits stay on (they are part of what is measured) but must not refuse us.
        "MAJLIS_USER_RATE_LIMIT_PER_MINUTE": "100000000",
        "MAJLIS_TENANT_RATE_LIMIT_PER_MINUTE": "100000000",
        "MAJLIS_DB_POOL_MAX": "10",
    }
    gateway = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    tenant_id: uuid.UUID | None = None
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)
            email = f"bench-{uuid.uuid4().hex[:10]}@example.test"
            password = "load test passphrase 2026"
            async with session.post(
                f"{base}/api/v1/auth/register",
                json={
                    "business_name": "Bench",
                    "name": "Bench",
                    "email": email,
                    "password": password,
                },
            ) as response:
                assert response.status == 201, await response.text()
                tenant_id = uuid.UUID((await response.json())["tenant_id"])
            async with session.post(
                f"{base}/api/v1/auth/login", json={"email": email, "password": password}
            ) as response:
                token = (await response.json())["access_token"]
        # Warm up the pools and caches, then measure.
        await _drive_short(base, token)
        count, errors, latencies = await _drive(base, token)
    finally:
        gateway.terminate()
        await gateway.wait()
        await clean_up(env, tenant_id)
    latencies.sort()
    result = {
        "scenario": "gateway authenticated GET /api/v1/me",
        "connections": CONNECTIONS,
        "duration_s": DURATION_S,
        "requests": count,
        "errors": errors,
        "requests_per_s": round(count / DURATION_S, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }
    print(json.dumps(result))


async def _drive_short(base: str, token: str) -> None:
    global DURATION_S
    saved, DURATION_S = DURATION_S, 1.0
    try:
        await _drive(base, token)
    finally:
        DURATION_S = saved


if __name__ == "__main__":
    asyncio.run(main())
