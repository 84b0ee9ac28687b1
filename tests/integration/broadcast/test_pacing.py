"""The number's token buckets in the real Redis: the interactive reserve is work-conserving."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from broadcast.pacing import NumberRateLimiter, bucket_capacity

RATE = 1000  # a bucket of 25 (bucket_capacity), refilled at 1 per ms
SHARE = 0.2  # bulk's share while interactive traffic is about: 200/s, a bucket of 5


@pytest.fixture
async def limiter(settings: Any) -> AsyncIterator[NumberRateLimiter]:
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    prefix = f"{settings.redis_prefix}{uuid.uuid4().hex[:10]}:"
    yield NumberRateLimiter(client, prefix, bulk_share=SHARE, interactive_memory_s=30)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _granted(limiter: NumberRateLimiter, number: uuid.UUID, *, bulk: bool, tries: int) -> int:
    return sum([await limiter.try_take(number, RATE, bulk=bulk) == 0 for _ in range(tries)])


async def test_bulk_alone_may_use_the_whole_rate(limiter: NumberRateLimiter) -> None:
    # No interactive send lately: the share kept for replies is lent to the campaign.
    granted = await _granted(limiter, uuid.uuid4(), bulk=True, tries=40)
    assert granted >= bucket_capacity(RATE)


async def test_bulk_is_held_to_its_share_while_replies_are_sent(
    limiter: NumberRateLimiter,
) -> None:
    number = uuid.uuid4()
    assert await limiter.try_take(number, RATE, bulk=False) == 0
    granted = await _granted(limiter, number, bulk=True, tries=40)
    # The bulk bucket (5) plus what refills at 200/s while the loop runs: far below 25.
    assert granted < bucket_capacity(RATE) // 2
    # The rest of the number's bucket is still there for interactive sends.
    assert await _granted(limiter, number, bulk=False, tries=10) >= 10


async def test_numbers_do_not_share_buckets(limiter: NumberRateLimiter) -> None:
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    slow = 40  # a bucket of 1, refilled every 25 ms
    assert await limiter.try_take(busy, slow, bulk=False) == 0
    assert await limiter.try_take(busy, slow, bulk=False) > 0
    assert await limiter.try_take(quiet, slow, bulk=False) == 0
