"""What the benchmark scripts (bench/) share: free ports, readiness, leaving nothing behind."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid

import aiohttp

# Ports handed out by this process, and the range they come from: below Linux's ephemeral
# range (32768-60999), so no outgoing connection (a pool to PostgreSQL, a client to the
# broker) can take a port between our pick and the server's bind, as one did ("exited with 1").
_HANDED_OUT: set[int] = set()
_PORTS = range(20_000, 32_000)


def free_port() -> int:
    """A TCP port nothing listens on right now, never the same twice in this process."""
    for _ in range(200):
        port = random.choice(_PORTS)  # noqa: S311  # a port number, not a secret
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free TCP port in 20000-31999")


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    """Wait until a service's /readyz answers 200 (30 s at most)."""
    for _ in range(300):
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not become ready")


async def clean_up(env: dict[str, str] | None = None, tenant_id: uuid.UUID | None = None) -> None:
    """Remove the bench tenant (if any), this run's bus objects and its Redis keys."""
    import redis.asyncio as aioredis

    from majlis.db import create_pool, tenant_transaction
    from majlis.messaging import PLATFORM_QUEUES, Bus, delete_topology
    from majlis.settings import load_settings

    if env is not None:
        os.environ.update(env)
    settings = load_settings()
    # Only ever the bench's own prefixes; never the shared defaults of a running platform.
    assert settings.bus_prefix.startswith("bench."), settings.bus_prefix
    assert settings.redis_prefix.startswith("majlis-bench:"), settings.redis_prefix
    if tenant_id is not None:
        pool = await create_pool(settings.database_url.get_secret_value(), min_size=1)
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
        await pool.close()
    bus = await Bus.connect(settings)
    channel = await bus.channel(publisher_confirms=False)
    await delete_topology(
        channel, settings.bus_prefix, PLATFORM_QUEUES, settings.bus_retry_delays_ms
    )
    await channel.close()
    await bus.close()
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def child_pids(pid: int) -> list[int]:
    """A process's children, from /proc (none if it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int | None]) -> float:
    """User + system CPU time the processes have used so far (0 for any that is gone)."""
    total = 0
    for pid in pids:
        if pid is None:
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def queue_depths(settings: object, names: list[str]) -> dict[str, int]:
    """Ready messages in some of the platform's queues (under the settings' bus prefix)."""
    from majlis.messaging import Bus, queue_name
    from majlis.settings import Settings

    assert isinstance(settings, Settings)
    bus = await Bus.connect(settings)
    depths: dict[str, int] = {}
    try:
        channel = await bus.channel(publisher_confirms=False)
        for name in names:
            queue = await channel.declare_queue(queue_name(settings.bus_prefix, name), passive=True)
            depths[name] = int(queue.declaration_result.message_count or 0)
        await channel.close()
    finally:
        await bus.close()
    return depths
