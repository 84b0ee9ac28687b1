"""Revocation state for access tokens, in Redis (shared by every replica of every service).

Three kinds of entry, checked together in one MGET on every authenticated request: a
denylisted ``jti`` (logout), a revoked session (refresh reuse, logout of a family), and a
per-user epoch (password change, deactivation, role change): tokens issued at or before it are
dead. Each entry lives only as long as a token it could affect. Redis failures raise
RedisUnavailable so callers fail closed. The MGETs of one loop turn share a pipeline
(majlis.redis_batch).
"""

from __future__ import annotations

import math
import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from majlis.http.tokens import AccessClaims
from majlis.ratelimit import RedisUnavailable
from majlis.redis_batch import RedisBatcher

# A user's epoch moves to max(now, previous epoch + 1): past every token issued since the
# previous revocation (earliest_iat dates them previous epoch + 1). KEYS[1] the epoch; ARGV now
# (whole seconds) and the entry's lifetime.
_BUMP_EPOCH = """
local epoch = tonumber(ARGV[1])
local previous = redis.call('GET', KEYS[1])
if previous and tonumber(previous) + 1 > epoch then epoch = tonumber(previous) + 1 end
redis.call('SET', KEYS[1], tostring(epoch), 'EX', tonumber(ARGV[2]))
return epoch
"""


class RevocationStore:
    """Denylist, revoked sessions and user epochs."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        issuer: str,
        max_token_ttl: int,
        leeway: int = 30,
    ) -> None:
        """Entries expire after the longest a token could still be valid."""
        self._redis = redis
        self._prefix = prefix
        self._issuer = issuer
        self._leeway = leeway
        self._horizon = max_token_ttl + leeway
        # Every authenticated request asks; one loop turn's asks share a pipeline.
        self._batcher = RedisBatcher(redis)
        self._bump = redis.register_script(_BUMP_EPOCH)

    def _deny_key(self, jti: str) -> str:
        return f"{self._prefix}auth:deny:{self._issuer}:{jti}"

    def _session_key(self, session_id: uuid.UUID) -> str:
        return f"{self._prefix}auth:srev:{session_id}"

    def _epoch_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}auth:uepoch:{user_id}"

    async def deny(self, claims: AccessClaims, *, now: float | None = None) -> None:
        """Put one token on the denylist until it would have expired anyway."""
        ttl = max(1, math.ceil(claims.expires_at - (now or time.time())) + self._leeway)
        try:
            await self._redis.set(self._deny_key(claims.jti), b"1", ex=ttl)
        except (RedisError, OSError) as error:
            raise RedisUnavailable from error

    async def revoke_session(self, session_id: uuid.UUID) -> None:
        """Kill every access token of one sign-in."""
        try:
            await self._redis.set(self._session_key(session_id), b"1", ex=self._horizon)
        except (RedisError, OSError) as error:
            raise RedisUnavailable from error

    async def revoke_user_tokens(self, user_id: uuid.UUID, *, now: float | None = None) -> int:
        """Kill every access token of a user issued up to now; returns the epoch second.

        Tokens carry whole-second ``iat``; any token with ``iat <= epoch`` is dead, so tokens
        issued afterwards must use ``iat >= epoch + 1`` (see ``earliest_iat``). Such a token
        may be dated a second ahead of the clock; a second revocation within that second moves
        the epoch past it (never back), so it dies too.
        """
        try:
            epoch = int(
                await self._bump(
                    keys=[self._epoch_key(user_id)],
                    args=[int(now or time.time()), self._horizon],
                )
            )
        except (RedisError, OSError) as error:
            raise RedisUnavailable from error
        return epoch

    async def earliest_iat(self, user_id: uuid.UUID, *, now: float | None = None) -> int:
        """The ``iat`` a new token for this user must use so that it survives the epoch."""
        current = int(now or time.time())
        try:
            raw = await self._redis.get(self._epoch_key(user_id))
        except (RedisError, OSError) as error:
            raise RedisUnavailable from error
        return max(current, int(raw) + 1) if raw is not None else current

    async def is_revoked(self, claims: AccessClaims) -> bool:
        """True when the token was logged out, its session revoked, or its user's epoch passed."""
        keys = [self._deny_key(claims.jti), self._epoch_key(claims.user_id)]
        if claims.session_id is not None:
            keys.append(self._session_key(claims.session_id))
        try:
            values = await self._batcher.command("MGET", *keys)
        except (RedisError, OSError) as error:
            raise RedisUnavailable from error
        denied, epoch = values[0], values[1]
        session_revoked = len(values) > 2 and values[2] is not None
        if denied is not None or session_revoked:
            return True
        return epoch is not None and claims.issued_at <= int(epoch)
