"""Exact sliding-window rate limits in Redis, shared by every replica of a service.

Each limited key is a sorted set holding one member per admitted hit, scored by the Redis
server's clock in microseconds. One Lua script drops members older than the window, counts
the rest and admits the hit only if the count is below the limit, so no window of length W
ever admits more than N hits, however many processes race (Redis runs a script atomically).
The clock is `redis.call('TIME')` inside the script, so replicas with skewed clocks agree.

Cost: O(log N) per hit and up to N members per key; fine for login, OTP and API quotas.
For very high-rate pacing use a token bucket instead (reference performance.md §4).

Keys are `{prefix}rl:{name}:{key}`. Keys must never hold personal data in clear: hash an
email or a phone number before passing it (a `@` or whitespace in a key is rejected, to
catch the common mistake). Every Redis failure raises `RedisUnavailable`, so callers that
decide access fail closed (503) instead of letting the request through.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions

from majlis.redis_batch import RedisBatcher

__all__ = ["Decision", "Limit", "RateLimiter", "RedisUnavailable", "check_key_part", "redis_errors"]


class RedisUnavailable(Exception):
    """Redis could not answer; access decisions that needed it must fail closed (503)."""


# ReadOnlyError and MasterDownError are what a replica answers during a failover: the data
# is unreachable for writes, which for us is the same as Redis being down.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
    OSError,
)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Turn every way of Redis being unreachable into `RedisUnavailable`."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise RedisUnavailable(type(exc).__name__) from exc


_BAD_KEY_PART = re.compile(r"[@\s]")


def check_key_part(value: str, what: str = "key") -> str:
    """Reject empty parts and ones that look like clear personal data (`@`, whitespace)."""
    if not value or len(value) > 256 or _BAD_KEY_PART.search(value):
        raise ValueError(f"{what} must be 1-256 characters without '@' or spaces; hash emails")
    return value


# Scores and cut-offs are built as decimal strings with %.0f: Lua numbers are doubles, and
# letting Redis convert a 16-digit number itself may print it in exponent form or round it.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local cutoff = string.format('%.0f', now - window_us)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
local member = ''
if count < limit then
  allowed = 1
  if ARGV[3] == 'hit' then
    member = t[1] .. '.' .. t[2] .. ':' .. ARGV[4]
    redis.call('ZADD', KEYS[1], string.format('%.0f', now), member)
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    count = count + 1
  end
end
local reset_us = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset_us = tonumber(oldest[2]) + window_us - now
end
return {allowed, count, string.format('%.0f', reset_us), member}
"""


_NONCE_PREFIX = secrets.token_hex(8) + "-"
_NONCE_COUNTER = itertools.count()


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit a request counts against (see `RateLimiter.hit_all`)."""

    name: str
    key: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Decision:
    """The outcome of one rate-limit check, with the numbers clients are told."""

    allowed: bool
    limit: int
    remaining: int
    window_seconds: int
    reset_after: float  # seconds until the oldest hit in the window leaves it (a slot frees)
    retry_after: int  # whole seconds to wait when denied (rounded up); 0 when allowed

    def headers(self) -> dict[str, str]:
        """RateLimit-* headers (IETF draft) and, when denied, Retry-After."""
        values = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_after)),
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
        }
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after)
        return values


class RateLimiter:
    """Sliding-window-log limiter; one instance per process, shared by all requests."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        # Hits made in one loop turn go to Redis in one pipeline (majlis.redis_batch).
        self._script = RedisBatcher(redis).script(_SLIDING_WINDOW)

    def key_for(self, name: str, key: str) -> str:
        """The Redis key of one limited subject (for tests and operators)."""
        return f"{self._prefix}rl:{check_key_part(name, 'name')}:{check_key_part(key)}"

    async def hit(self, name: str, key: str, *, limit: int, window_seconds: int) -> Decision:
        """Count one request against the limit if there is room; say whether it may proceed."""
        decision, _ = await self._run("hit", name, key, limit, window_seconds)
        return decision

    async def hit_all(self, limits: Sequence[Limit]) -> list[Decision]:
        """Count one request against several limits, as `hit` one after another would: the
        decisions up to the first denial (included); a later limit's hit does not count.

        All are asked in one round trip; the hits counted after a denied one are taken back
        (for that moment they counted, erring towards limiting)."""
        answers = await asyncio.gather(
            *(self._run("hit", lim.name, lim.key, lim.limit, lim.window_seconds) for lim in limits)
        )
        for index, (decision, _) in enumerate(answers):
            if decision.allowed:
                continue
            later = zip(limits[index + 1 :], answers[index + 1 :], strict=True)
            refunds = [(self.key_for(lim.name, lim.key), m) for lim, (_, m) in later if m]
            if refunds:
                with redis_errors():
                    await asyncio.gather(*(self._redis.zrem(k, m) for k, m in refunds))
            return [d for d, _ in answers[: index + 1]]
        return [d for d, _ in answers]

    async def peek(self, name: str, key: str, *, limit: int, window_seconds: int) -> Decision:
        """What `hit` would decide now, without counting anything (remaining = free slots)."""
        decision, _ = await self._run("peek", name, key, limit, window_seconds)
        return decision

    async def reset(self, name: str, key: str) -> None:
        """Forget every hit of one key (e.g. after an operator clears a false positive)."""
        with redis_errors():
            await self._redis.delete(self.key_for(name, key))

    async def _run(
        self, mode: str, name: str, key: str, limit: int, window_seconds: int
    ) -> tuple[Decision, str]:
        """The decision and the member a counted hit added ('' when none was added)."""
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be at least 1")
        redis_key = self.key_for(name, key)
        # A suffix keeps members unique when two hits land in the same microsecond: random
        # per process, counted within it (no getrandom system call per hit).
        nonce = f"{_NONCE_PREFIX}{next(_NONCE_COUNTER):x}"
        with redis_errors():
            allowed, count, reset_us, member = await self._script(
                keys=[redis_key], args=[limit, window_seconds * 1000, mode, nonce]
            )
        is_allowed = bool(int(allowed))
        reset_after = max(0.0, int(reset_us) / 1_000_000)
        decision = Decision(
            allowed=is_allowed,
            limit=limit,
            remaining=max(0, limit - int(count)),
            window_seconds=window_seconds,
            reset_after=reset_after,
            # A denied caller always waits at least a second: Retry-After has no fractions.
            retry_after=0 if is_allowed else max(1, math.ceil(reset_after)),
        )
        return decision, member.decode() if isinstance(member, bytes) else str(member)
