"""Abuse controls of the gateway: per-account login lockout and temporary IP blocks.

All state lives in Redis and every read-decide-write is one Lua script, so every gateway
replica sees the same counters and no race admits an extra attempt. Times come from the
Redis server (`TIME`), never from the replicas' clocks. Every Redis failure raises
`RedisUnavailable`: login must then answer 503, never skip the check (reference §3.4).

The two controls are independent on purpose (reference §3.2): the account lock counts
failures from every IP (attackers rotate addresses), the IP block catches one address
spraying many accounts or hammering any limit.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway.client_ip import normalize_ip
from majlis.ratelimit import RedisUnavailable, check_key_part, redis_errors
from majlis.redis_batch import RedisBatcher

__all__ = ["IpBlocker", "LockState", "LoginGuard", "RedisUnavailable"]

# Shared Lua prologue: the server clock in microseconds, and exact decimal formatting
# (Lua numbers are doubles; Redis may print a 16-digit one in exponent form).
_PROLOGUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function int(x) return string.format('%.0f', x) end
"""

# KEYS: failures (zset), lock (hash: until_us, level). Returns locked, µs left.
_CHECK_LOCK = (
    _PROLOGUE
    + """
local until_us = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if until_us > now then return {1, int(until_us - now)} end
return {0, '0'}
"""
)

# KEYS: failures (zset), lock (hash). ARGV: max_failures, window_ms, base_ms, max_ms,
# decay_ms, nonce. Returns locked, µs left, just_locked, failures in the window.
_RECORD_FAILURE = (
    _PROLOGUE
    + """
local until_us = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if until_us > now then
  -- Already locked: callers check first; a failure now neither counts nor extends the lock,
  -- so hammering a locked account cannot keep its owner out for longer.
  return {1, int(until_us - now), 0, 0}
end
local window_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now - window_ms * 1000))
redis.call('ZADD', KEYS[1], int(now), t[1] .. '.' .. t[2] .. ':' .. ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local failures = redis.call('ZCARD', KEYS[1])
if failures < tonumber(ARGV[1]) then return {0, '0', 0, failures} end
local level = math.min(tonumber(redis.call('HGET', KEYS[2], 'level') or '0') + 1, 40)
local lock_ms = math.min(tonumber(ARGV[3]) * 2 ^ (level - 1), tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], 'until', int(now + lock_ms * 1000), 'level', int(level))
-- The escalation level is forgotten once the account has been quiet for decay_ms after
-- the lock ends: the hash simply expires.
redis.call('PEXPIRE', KEYS[2], int(lock_ms + tonumber(ARGV[5])))
redis.call('DEL', KEYS[1])
return {1, int(lock_ms * 1000), 1, failures}
"""
)

# KEYS: strikes (zset), block (string with a TTL). ARGV: strikes, window_ms, block_ms, nonce.
_STRIKE = (
    _PROLOGUE
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local window_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now - window_ms * 1000))
redis.call('ZADD', KEYS[1], int(now), t[1] .. '.' .. t[2] .. ':' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""
)


def _ms(seconds: float, what: str) -> int:
    value = round(seconds * 1000)
    if value < 1:
        raise ValueError(f"{what} must be positive")
    return value


@dataclass(frozen=True)
class LockState:
    """Whether an account is locked, and for how long."""

    locked: bool
    retry_after: int  # whole seconds (rounded up); 0 when not locked
    reset_after: float = 0.0  # exact seconds left on the lock
    just_locked: bool = False  # this failure caused the lock: publish an audit event
    failures: int = 0  # failures in the window after this one (0 when locked)


def _lock_state(
    locked: int, micros: bytes | str | int, just_locked: int = 0, failures: int = 0
) -> LockState:
    if not int(locked):
        return LockState(locked=False, retry_after=0, failures=int(failures))
    left = int(micros) / 1_000_000
    return LockState(
        locked=True,
        retry_after=max(1, math.ceil(left)),
        reset_after=left,
        just_locked=bool(int(just_locked)),
    )


class LoginGuard:
    """Per-account lockout with exponential lock times (60 s, 120 s, ... up to a cap).

    `account_key` is an opaque string the caller derives from the normalised login name
    (e.g. an HMAC of the email), never the email itself; because it is derived the same way
    for unknown emails, they lock exactly like real accounts and reveal nothing.
    Callers must `check` before verifying a password and refuse while locked, even if the
    password would be right.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        max_failures: int = 5,
        failure_window_seconds: float = 900,
        base_lock_seconds: float = 60,
        max_lock_seconds: float = 3600,
        decay_seconds: float = 86_400,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self._redis = redis
        self._prefix = prefix
        self._args = (
            max_failures,
            _ms(failure_window_seconds, "failure_window_seconds"),
            _ms(base_lock_seconds, "base_lock_seconds"),
            _ms(max(max_lock_seconds, base_lock_seconds), "max_lock_seconds"),
            _ms(decay_seconds, "decay_seconds"),
        )
        self._check = redis.register_script(_CHECK_LOCK)
        self._record_failure = redis.register_script(_RECORD_FAILURE)

    def _keys(self, account_key: str) -> list[str]:
        check_key_part(account_key, "account_key")
        if "{" in account_key or "}" in account_key:
            raise ValueError("account_key must not contain braces")
        # The braces are a Redis Cluster hash tag: both keys of one account share a slot.
        base = f"{self._prefix}login:{{{account_key}}}"
        return [f"{base}:failures", f"{base}:lock"]

    async def check(self, account_key: str) -> LockState:
        """Whether the account is locked now; call before verifying the password."""
        keys = self._keys(account_key)
        with redis_errors():
            locked, micros = await self._check(keys=keys)
        return _lock_state(locked, micros)

    async def record_failure(self, account_key: str) -> LockState:
        """Count a failed login; locks the account when the failures reach the threshold."""
        keys = self._keys(account_key)
        with redis_errors():
            result = await self._record_failure(keys=keys, args=[*self._args, secrets.token_hex(8)])
        return _lock_state(*result)

    async def record_success(self, account_key: str) -> None:
        """Clear the failure count after a successful login (an active lock stays)."""
        keys = self._keys(account_key)
        with redis_errors():
            await self._redis.delete(keys[0])


_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class IpBlocker:
    """Temporary blocks for IPs that keep hitting rate limits, plus manual operator blocks."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        strikes: int = 10,
        strike_window_seconds: float = 600,
        block_seconds: float = 900,
    ) -> None:
        if strikes < 1:
            raise ValueError("strikes must be at least 1")
        self._redis = redis
        self._prefix = prefix
        self._args = (
            strikes,
            _ms(strike_window_seconds, "strike_window_seconds"),
            _ms(block_seconds, "block_seconds"),
        )
        self._block_seconds = block_seconds
        self._strike = redis.register_script(_STRIKE)
        # Every request asks; the asks of one loop turn share a pipeline (majlis.redis_batch).
        self._batcher = RedisBatcher(redis)

    def _keys(self, ip: str) -> list[str]:
        # Normalised, so "::ffff:192.0.2.1" and "192.0.2.1" share one block; hash tag as above.
        base = f"{self._prefix}ipblock:{{{normalize_ip(ip)}}}"
        return [f"{base}:strikes", f"{base}:block"]

    async def blocked_for(self, ip: str) -> int:
        """Seconds left on the IP's block (rounded up); 0 when it is not blocked."""
        keys = self._keys(ip)
        with redis_errors():
            pttl = int(await self._batcher.command("PTTL", keys[1]))
        if pttl == -1:  # no TTL: never written by us; treat it as a fresh block, not a pass
            return math.ceil(self._block_seconds)
        return max(0, math.ceil(pttl / 1000))

    async def strike(self, ip: str) -> bool:
        """Record one rate-limit hit by the IP; True when this strike blocked it."""
        keys = self._keys(ip)
        with redis_errors():
            blocked = await self._strike(keys=keys, args=[*self._args, secrets.token_hex(8)])
        return bool(int(blocked))

    async def block(self, ip: str, seconds: int) -> None:
        """Block the IP for `seconds` (an operator's decision; replaces any current block)."""
        if seconds < 1:
            raise ValueError("seconds must be at least 1")
        keys = self._keys(ip)
        with redis_errors():
            await self._redis.set(keys[1], "1", px=seconds * 1000)

    async def unblock(self, ip: str) -> bool:
        """Lift the IP's block and forget its strikes; True if it was blocked."""
        keys = self._keys(ip)
        with redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(keys[1])
                pipe.delete(keys[0])
                removed_block, _ = await pipe.execute()
        return bool(removed_block)

    async def list_blocks(self) -> list[tuple[str, int]]:
        """Every blocked IP with its seconds left, by SCAN (never KEYS, which stalls Redis)."""
        head = f"{self._prefix}ipblock:{{"
        pattern = _GLOB_SPECIAL.sub(r"\\\1", head) + "*}:block"
        with redis_errors():
            keys = [key async for key in self._redis.scan_iter(match=pattern, count=500)]
            if not keys:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pttl(key)
                ttls = await pipe.execute()
        blocks: list[tuple[str, int]] = []
        for key, pttl in zip(keys, ttls, strict=True):
            text = key.decode() if isinstance(key, bytes) else str(key)
            ip = text[len(head) : -len("}:block")]
            if int(pttl) == -2:  # expired between SCAN and PTTL
                continue
            left = math.ceil(self._block_seconds) if int(pttl) == -1 else math.ceil(pttl / 1000)
            blocks.append((ip, max(1, left)))
        return sorted(blocks)
