"""Commands batched per loop turn against the real Redis: order, errors, NOSCRIPT, failures."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from majlis.redis_batch import RedisBatcher

# Appends its argument to a list and answers with the list's length; errors on 'boom'.
_APPEND = """
if ARGV[1] == 'boom' then return redis.error_reply('boom asked for') end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], 60000)
return n
"""


@pytest.fixture
def key(prefix: str) -> str:
    return f"{prefix}batch"


async def test_each_concurrent_caller_gets_its_own_reply(
    redis_client: aioredis.Redis, key: str
) -> None:
    script = RedisBatcher(redis_client, max_batch=32).script(_APPEND)
    await script(keys=[key], args=["warm-up"])  # loads the script (NOSCRIPT the first time)
    replies = await asyncio.gather(*(script(keys=[key], args=[str(i)]) for i in range(300)))
    # Ten pipelines in flight at once: Redis may run them in any order, as it may concurrent
    # direct calls; within one, the order is kept. Every reply is its own caller's position.
    stored = await redis_client.lrange(key, 0, -1)
    assert sorted(replies) == list(range(2, 302))
    assert [stored[n - 1] for n in replies] == [str(i).encode() for i in range(300)]
    chunks = [replies[i : i + 32] for i in range(0, 300, 32)]
    assert all(chunk == sorted(chunk) for chunk in chunks)


async def test_one_loop_turn_is_one_round_trip(redis_client: aioredis.Redis, key: str) -> None:
    batcher = RedisBatcher(redis_client)
    await batcher.command("PTTL", key)
    connections_before = (await redis_client.info("stats"))["total_connections_received"]
    replies = await asyncio.gather(*(batcher.command("PTTL", key) for _ in range(30)))
    assert replies == [-2] * 30  # the key does not exist: PTTL's -2, through the client's parsing
    # The batch took a pooled connection (or one new one), not thirty.
    connections_after = (await redis_client.info("stats"))["total_connections_received"]
    assert connections_after - connections_before <= 1


async def test_a_reply_error_reaches_only_its_caller(
    redis_client: aioredis.Redis, key: str
) -> None:
    script = RedisBatcher(redis_client).script(_APPEND)
    outcomes = await asyncio.gather(
        script(keys=[key], args=["a"]),
        script(keys=[key], args=["boom"]),
        script(keys=[key], args=["b"]),
        return_exceptions=True,
    )
    assert outcomes[0] == 1
    assert outcomes[2] == 2
    assert isinstance(outcomes[1], redis.exceptions.ResponseError)
    assert "boom asked for" in str(outcomes[1])
    assert await redis_client.lrange(key, 0, -1) == [b"a", b"b"]


async def test_a_script_redis_does_not_know_is_loaded_and_every_call_runs_once(
    redis_client: aioredis.Redis, key: str
) -> None:
    # A source of its own, so Redis answers NOSCRIPT as after a restart (no SCRIPT FLUSH: the
    # server is shared with a running `make run`).
    source = f"-- {uuid.uuid4().hex}\n{_APPEND}"
    script = RedisBatcher(redis_client).script(source)
    assert (await redis_client.script_exists(script.sha)) == [False]
    replies = await asyncio.gather(*(script(keys=[key], args=[f"x{i}"]) for i in range(20)))
    assert replies == list(range(1, 21))
    assert await redis_client.llen(key) == 20  # none ran twice, none was dropped
    assert (await redis_client.script_exists(script.sha)) == [True]


async def test_a_connection_failure_reaches_every_caller_of_the_batch() -> None:
    down = aioredis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        batcher = RedisBatcher(down)
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(batcher.command("PTTL", f"k{i}") for i in range(5)), return_exceptions=True
            ),
            timeout=5,
        )
        assert all(isinstance(o, redis.exceptions.ConnectionError) for o in outcomes), outcomes
        assert len({id(o) for o in outcomes}) == 5  # each caller raises its own exception
    finally:
        await down.aclose()


async def test_a_cancelled_caller_does_not_disturb_the_others(
    redis_client: aioredis.Redis, key: str
) -> None:
    script = RedisBatcher(redis_client).script(_APPEND)
    await script(keys=[key], args=["warm-up"])
    doomed = asyncio.ensure_future(script(keys=[key], args=["cancelled"]))
    kept = asyncio.ensure_future(script(keys=[key], args=["kept"]))
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await kept in (2, 3)  # the cancelled call may still have run, as a direct one can
    assert b"kept" in await redis_client.lrange(key, 0, -1)


def test_max_batch_must_be_positive(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        RedisBatcher(redis_client, max_batch=0)
