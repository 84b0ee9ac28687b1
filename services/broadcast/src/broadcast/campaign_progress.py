"""Live campaign progress for the dashboards' stream, coalesced.

The runner visits every sending campaign about once a second, under the campaign's row lock.
After a visit it may add a ``CampaignProgress`` event (the funnel: counts only) to the outbox in
the same transaction: only when the counts changed since this replica last reported them, and
at most once per ``interval_s`` per campaign across all replicas (a Redis key set with NX and a
TTL). A 100,000-recipient campaign thus costs its tenant's streams one small frame a second,
whatever the send rate. Statuses that arrive after a campaign ended are left to the page's slow
poll (and ``broadcast.campaign.finished`` carries the final counts).
"""

from __future__ import annotations

from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

# Entries of campaigns this replica stopped visiting (paused, cancelled) are dropped wholesale
# beyond this many: the worst case is one extra, identical, event.
_MAX_REMEMBERED = 10_000


class ProgressGate:
    """Decides whether a campaign's progress is worth an event now."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, interval_s: float = 1.0) -> None:
        """At most one event per campaign per `interval_s`, across replicas sharing `redis`."""
        self._redis = redis
        self._prefix = prefix
        self._interval_ms = max(1, int(interval_s * 1000))
        self._reported: dict[UUID, dict[str, int]] = {}

    async def admit(self, campaign_id: UUID, counts: dict[str, int]) -> bool:
        """True if `counts` changed since the last report and the campaign's slot is free."""
        if self._reported.get(campaign_id) == counts:
            return False
        try:
            taken = await self._redis.set(
                f"{self._prefix}campaign:progress:{campaign_id}",
                b"1",
                nx=True,
                px=self._interval_ms,
            )
        except (RedisError, OSError):
            return False  # progress is a nicety: it never holds up a feed
        if not taken:
            return False
        if len(self._reported) >= _MAX_REMEMBERED:
            self._reported.clear()
        self._reported[campaign_id] = dict(counts)
        return True

    def forget(self, campaign_id: UUID) -> None:
        """The campaign ended: nothing more to compare with."""
        self._reported.pop(campaign_id, None)
