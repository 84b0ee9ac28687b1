"""The services' Redis client after a Redis restart: fails closed while it is down, and the
first request after it is back is served (found by `make chaos`: every connection pooled
before the restart failed one request afterwards, e.g. a 503 from the gateway minutes later).

A private redis-server of the test's own (free port, temp dir), never the shared one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from majlis.http.resources import redis_client
from majlis.testing.chaos.servers import PrivateRedis

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs the redis-server binary"
)


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    folder = Path(tempfile.mkdtemp(prefix="majlis-test-redis-"))
    server = PrivateRedis(folder)
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(folder, ignore_errors=True)


async def test_the_first_call_after_a_restart_is_served(private_redis: PrivateRedis) -> None:
    client: aioredis.Redis = redis_client(private_redis.url)
    try:
        assert await client.mget(["a", "b"]) == [None, None]  # a pooled connection
        await private_redis.stop()
        await private_redis.start()
        # Before the fix: ConnectionError "Connection closed by server" (a 503 to the user).
        assert await client.mget(["a", "b"]) == [None, None]
    finally:
        await client.aclose(close_connection_pool=True)


async def test_while_redis_is_down_calls_fail_at_once(private_redis: PrivateRedis) -> None:
    client: aioredis.Redis = redis_client(private_redis.url)
    try:
        assert await client.ping() is True
        await private_redis.stop()
        with pytest.raises(redis.exceptions.ConnectionError):
            await client.get("k")  # the caller learns it at once and fails closed
        await private_redis.start()
        assert await client.ping() is True
    finally:
        await client.aclose(close_connection_pool=True)
