"""The coalescing of live campaign progress, against the real Redis: one report per campaign
per interval across replicas, none when the counts did not change, campaigns independent."""

from __future__ import annotations

import uuid
from typing import Any

import redis.asyncio as aioredis

from broadcast.campaign_progress import ProgressGate


async def test_one_report_per_campaign_per_interval_across_replicas(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    # A long interval: nothing here depends on timing; the slot is freed by hand below.
    first, second = (ProgressGate(redis_client, prefix, interval_s=3600) for _ in range(2))
    campaign, other = uuid.uuid4(), uuid.uuid4()
    assert await first.admit(campaign, {"pending": 10})
    # Within the interval: not again, from this replica or another, even with new counts.
    assert not await first.admit(campaign, {"pending": 9, "queued": 1})
    assert not await second.admit(campaign, {"pending": 8, "queued": 2})
    # Another campaign has a slot of its own.
    assert await second.admit(other, {"pending": 5})

    # The interval over (its key expired): unchanged counts are not reported again...
    await redis_client.delete(f"{prefix}campaign:progress:{campaign}")
    assert not await first.admit(campaign, {"pending": 10})
    # ...changed ones are.
    assert await first.admit(campaign, {"pending": 7, "queued": 3})
    # A campaign that ended is forgotten: its next run reports from scratch.
    first.forget(campaign)
    await redis_client.delete(f"{prefix}campaign:progress:{campaign}")
    assert await first.admit(campaign, {"pending": 7, "queued": 3})


async def test_without_redis_progress_is_skipped_never_raised(settings: Any) -> None:
    """Progress is a nicety: a Redis outage must never fail the campaign's feed."""
    dead = aioredis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=0.5, socket_connect_timeout=0.5
    )
    try:
        gate = ProgressGate(dead, settings.redis_prefix)
        assert not await gate.admit(uuid.uuid4(), {"pending": 1})
    finally:
        await dead.aclose()
