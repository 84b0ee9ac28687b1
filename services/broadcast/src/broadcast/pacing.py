"""Send pacing in Redis, shared by every dispatcher replica: per-number buckets, per-recipient.

Both limiters are Lua scripts run on the Redis server clock (one round trip per decision, and
exact grants however many replicas compete: reference performance.md §4). A decision answers
0 (go) or how many milliseconds to wait; nothing is taken when the answer is "wait".
"""

from __future__ import annotations

import asyncio
import random
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis

from majlis.crypto import BlindIndexer

# Token buckets. KEYS[1]: the number's bucket, KEYS[2]: its bulk bucket, KEYS[3]: a marker
# that interactive traffic was seen lately. ARGV: mode ("interactive" or "bulk"), the marker's
# lifetime in ms, then rate per second and capacity of each bucket. An interactive send passes
# through the number's bucket alone and renews the marker; a bulk send passes through the
# number's bucket, and also through the bulk bucket (a share of the rate) while the marker
# lives. So bulk can never take the share kept for interactive while agents and bots are
# replying, and a quiet number still sends its campaigns at its full rate (the reserve is
# work-conserving). The send is granted only if every bucket used holds a token, and then
# takes one from each; nothing is taken when the answer is "wait".
_BUCKETS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local used = 1
if ARGV[1] == 'interactive' then
  redis.call('SET', KEYS[3], '1', 'PX', tonumber(ARGV[2]))
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  used = 2
end
local levels = {}
local wait = 0
for i = 1, used do
  local rate = tonumber(ARGV[2 * i + 1])
  local cap = tonumber(ARGV[2 * i + 2])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then
    tokens = cap
    ts = now
  end
  tokens = math.min(cap, tokens + math.max(0, now - ts) * rate / 1000)
  levels[i] = tokens
  if tokens < 1 then
    local w = math.ceil((1 - tokens) * 1000 / rate)
    if w > wait then wait = w end
  end
end
for i = 1, used do
  local tokens = levels[i]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens),
             'ts', string.format('%d', now))
  redis.call('PEXPIRE', KEYS[i], 60000)
end
return wait
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

# A number's bucket holds a few sends at most: Meta counts per second, so a big burst on top
# of the steady rate would earn 130429s (1 s worth of capacity allows 2x the rate in a second).
_BURST_DIVISOR = 40


def bucket_capacity(rate: float) -> float:
    """How many sends a bucket of `rate` per second lets through at once."""
    return max(1.0, float(int(rate) // _BURST_DIVISOR))


class NumberRateLimiter:
    """Per-number token bucket with a share of it reserved for interactive traffic."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        bulk_share: float,
        interactive_memory_s: float = 2.0,
    ) -> None:
        """`bulk_share` (0..1]: the part of a number's rate that bulk sends may use while
        interactive sends were seen in the last `interactive_memory_s` seconds."""
        if not 0.0 < bulk_share <= 1.0:
            raise ValueError("bulk_share must be in (0, 1]")
        self._script: Any = client.register_script(_BUCKETS)
        self._prefix = prefix
        self._bulk_share = bulk_share
        self._memory_ms = max(1, round(interactive_memory_s * 1000))

    async def try_take(self, number_id: UUID, rate: int, *, bulk: bool) -> int:
        """Take one send for the number now; 0 if granted, else milliseconds to wait."""
        # One hash tag per number: a Redis Cluster keeps the script's keys in one slot.
        base = f"{self._prefix}dispatch:{{{number_id}}}:"
        keys = [f"{base}rate", f"{base}rate-bulk", f"{base}interactive-seen"]
        share = rate * self._bulk_share
        args: list[Any] = [
            "bulk" if bulk else "interactive",
            self._memory_ms,
            rate,
            bucket_capacity(rate),
            share,
            bucket_capacity(share),
        ]
        return int(await self._script(keys=keys, args=args))

    async def acquire(self, number_id: UUID, rate: int, *, bulk: bool) -> None:
        """Wait until the number's rate allows one more send, then take it."""
        while True:
            wait_ms = await self.try_take(number_id, rate, bulk=bulk)
            if wait_ms <= 0:
                return
            # A little jitter so that waiters woken together do not all ask at once.
            await asyncio.sleep(wait_ms / 1000 + random.uniform(0, 0.002))  # noqa: S311


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
