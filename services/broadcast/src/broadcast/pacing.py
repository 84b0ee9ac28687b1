"""Send pacing in Redis, shared by every dispatcher replica: per-number slots, per-recipient.

Both limiters are Lua scripts run on the Redis server clock (one round trip per decision, and
exact grants however many replicas compete: reference performance.md §4).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis

from majlis.crypto import BlindIndexer

# A number's send schedule. Each send reserves the next free slot on its timeline (GCRA with
# reservation: slot = max(tat, now), tat += interval) and sleeps until it, so sends leave
# evenly spaced, one Redis call each, however many wait. KEYS: 1 bulk timeline, 2 interactive
# timeline, 3 "interactive seen lately" marker, 4 "bulk seen lately" marker. ARGV: mode
# ("interactive" or "bulk"), rate per second, bulk's share, the markers' lifetime in ms, the
# bulk horizon in ms. While both kinds are sending, bulk gets `share` of the rate and
# interactive the rest; either alone gets the whole rate (the reserve is work-conserving). Bulk
# reserves at most `horizon` ahead, so a reply arriving in the middle of a campaign never waits
# behind more than that; past it the answer is negative: "ask again in that many ms", nothing
# reserved. Answers are milliseconds (fractional) until the reserved slot.
_SCHEDULE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[2])
local share = tonumber(ARGV[3])
local life = tonumber(ARGV[4])
local timeline, other, mine, cut
if ARGV[1] == 'interactive' then
  timeline, other, mine, cut = KEYS[2], KEYS[4], KEYS[3], 1 - share
else
  timeline, other, mine, cut = KEYS[1], KEYS[3], KEYS[4], share
end
redis.call('SET', mine, '1', 'PX', life)
local interval = 1000 / rate
if redis.call('EXISTS', other) == 1 then interval = interval / cut end
local tat = tonumber(redis.call('GET', timeline) or now)
if tat < now then tat = now end
if ARGV[1] == 'bulk' and tat - now > tonumber(ARGV[5]) then
  return tostring(-(tat - now - tonumber(ARGV[5])))
end
redis.call('SET', timeline, string.format('%.3f', tat + interval),
           'PX', math.ceil(tat + interval - now) + life)
return tostring(tat - now)
"""

# GCRA per (number, recipient): one message per interval, bursts of `burst` borrowed against
# the future. KEYS[1]: the pair; ARGV: interval in ms, burst.
_PAIR = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then tat = math.max(tonumber(v), now) end
local allowed_at = tat - interval * (burst - 1)
if now < allowed_at then return allowed_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now + 1000)
return 0
"""

# Meta counts sends per second on its own clock; 1 % below the rate absorbs the jitter between
# our slots and its arrivals, so a paced number never earns a 130429 (and stays within 2 %).
_HEADROOM = 0.99


class NumberRateLimiter:
    """Per-number send schedule, with a share of the rate kept for interactive traffic."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        bulk_share: float,
        interactive_memory_s: float = 2.0,
        bulk_horizon_s: float = 0.5,
    ) -> None:
        """`bulk_share` (0..1): the part of a number's rate that bulk sends may use while
        interactive sends were seen in the last `interactive_memory_s` seconds."""
        if not 0.0 < bulk_share < 1.0:
            raise ValueError("bulk_share must be in (0, 1)")
        self._script: Any = client.register_script(_SCHEDULE)
        self._prefix = prefix
        self._bulk_share = bulk_share
        self._memory_ms = max(1, round(interactive_memory_s * 1000))
        self._horizon_ms = max(1, round(bulk_horizon_s * 1000))

    async def reserve(self, number_id: UUID, rate: int, *, bulk: bool) -> float:
        """Reserve the number's next slot: ms until it (>= 0), or < 0: none, ask again then."""
        # One hash tag per number: a Redis Cluster keeps the script's keys in one slot.
        base = f"{self._prefix}dispatch:{{{number_id}}}:"
        keys = [f"{base}bulk-at", f"{base}interactive-at", f"{base}interactive", f"{base}bulk"]
        args: list[Any] = [
            "bulk" if bulk else "interactive",
            rate * _HEADROOM,
            self._bulk_share,
            self._memory_ms,
            self._horizon_ms,
        ]
        return float(await self._script(keys=keys, args=args))

    async def slot(self, number_id: UUID, rate: int, *, bulk: bool) -> float:
        """Reserve the number's next slot for this kind of traffic; its time on the loop's
        clock. Callers do their last preparations, then sleep until it (`wait_until`), so
        that what they do in between does not blur the spacing Meta sees."""
        loop = asyncio.get_running_loop()
        while True:
            wait_ms = await self.reserve(number_id, rate, bulk=bulk)
            if wait_ms >= 0:
                return loop.time() + wait_ms / 1000
            # Past the horizon: spread the askers over it so they do not all ask at once.
            spread = random.uniform(0, self._horizon_ms)  # noqa: S311  # jitter, not secrecy
            await asyncio.sleep((-wait_ms + spread) / 1000)

    async def acquire(self, number_id: UUID, rate: int, *, bulk: bool) -> None:
        """Wait for the number's next slot of this kind of traffic."""
        await self.keep(await self.slot(number_id, rate, bulk=bulk), number_id, rate, bulk=bulk)

    async def keep(self, slot: float, number_id: UUID, rate: int, *, bulk: bool) -> None:
        """Sleep until `slot`; if the process woke up late (a stall: GC, a slow commit, a busy
        loop), take a fresh slot instead of going at once, since late sends that all go at once
        reach Meta as a burst over its per-second limit."""
        late_after = 1.0 / rate
        for _ in range(_MAX_RESLOTS):
            await wait_until(slot)
            if asyncio.get_running_loop().time() - slot <= late_after:
                return
            slot = await self.slot(number_id, rate, bulk=bulk)
        await wait_until(slot)


_MAX_RESLOTS = 3


async def wait_until(moment: float) -> None:
    """Sleep until `moment` on the running loop's clock (at once if it has passed)."""
    delay = moment - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


class SendWindow:
    """The last guard before Meta's socket: never more than a number's rate of sends in any
    `span_s` on this process's clock, the rule Meta enforces with 130429 ("more than the
    rate in any second"). The Redis schedule spaces sends evenly across replicas; this catches
    what a stall does to that spacing (a send that woke some milliseconds late, followed by
    ones on time, puts rate + 1 sends inside one second). `span_s` a little over a second
    absorbs the jitter between our clock and Meta's arrivals."""

    def __init__(self, span_s: float = 1.005) -> None:
        self._span = span_s
        self._sent: dict[Any, deque[float]] = {}

    async def admit(self, key: Any, rate: int) -> None:
        """Wait until one more send under `key` keeps it within `rate` per span; record it."""
        loop = asyncio.get_running_loop()
        moments = self._sent.get(key)
        if moments is None:
            if len(self._sent) > 10_000:
                self._sent = {k: v for k, v in self._sent.items() if v}
            moments = self._sent[key] = deque()
        while True:
            now = loop.time()
            while moments and moments[0] <= now - self._span:
                moments.popleft()
            if len(moments) < rate:
                moments.append(now)
                return
            await asyncio.sleep(moments[0] + self._span - now)


class RecipientPacer:
    """Per-recipient pacing under Meta's pair rate limit (131056)."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        indexer: BlindIndexer,
        *,
        interval_s: float,
        burst: int,
    ) -> None:
        """One message per `interval_s` to the same recipient, bursts of `burst`."""
        self._script: Any = client.register_script(_PAIR)
        self._prefix = prefix
        self._indexer = indexer
        self._interval_ms = max(1, round(interval_s * 1000))
        self._burst = max(1, burst)

    def _key(self, tenant_id: UUID, number_id: UUID, recipient: str) -> str:
        # The recipient is a phone number: only a keyed HMAC of it reaches Redis.
        digest = self._indexer.value(recipient, tenant_id=tenant_id, field="dispatch.recipient")
        return f"{self._prefix}dispatch:pair:{number_id}:{digest.hex()[:32]}"

    async def try_take(self, tenant_id: UUID, number_id: UUID, recipient: str) -> int:
        """Take one send to the recipient now; 0 if granted, else milliseconds to wait."""
        key = self._key(tenant_id, number_id, recipient)
        return int(await self._script(keys=[key], args=[self._interval_ms, self._burst]))
