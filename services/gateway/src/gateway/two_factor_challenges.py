"""Sign-ins waiting for their second factor, in Redis.

A right password for an account with two-factor sign-in on opens a challenge: a random token
the client sends back with the code (POST /api/v1/auth/login/two-factor), so the password is
not sent again and the code step does not spend another of the IP's login attempts. A
challenge lives 5 minutes and takes at most 5 wrong codes; only a keyed hash of its token is
stored. Wrong codes also count towards the account's lockout (gateway.abuse.LoginGuard).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis

from gateway.keys import keyed_hash
from majlis.ratelimit import redis_errors

TTL_S = 300
MAX_ATTEMPTS = 5

# One wrong code: count it; the challenge ends at the last allowed one. KEYS[1] the challenge;
# ARGV the most wrong codes. Returns the count, 0 if the challenge is gone.
_FAIL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return n
"""


@dataclass(frozen=True, slots=True)
class Challenge:
    tenant_id: UUID
    user_id: UUID


class SignInChallenges:
    """Open, read, fail and close second-factor challenges."""

    def __init__(self, redis: aioredis.Redis, prefix: str, key: bytes) -> None:
        """`key` hashes tokens into Redis key names (a leaked key name is no token)."""
        self._redis = redis
        self._prefix = prefix
        self._key = key
        self._fail = redis.register_script(_FAIL)

    def _name(self, token: str) -> str:
        return f"{self._prefix}auth:2fa:{keyed_hash(self._key, token).hex()}"

    async def open(self, tenant_id: UUID, user_id: UUID) -> str:
        """A new challenge for a user whose password was just checked; returns its token."""
        token = secrets.token_urlsafe(32)
        name = self._name(token)
        with redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(name, mapping={"tenant": str(tenant_id), "user": str(user_id)})
                pipe.expire(name, TTL_S)
                await pipe.execute()
        return token

    async def get(self, token: str) -> Challenge | None:
        """The challenge's user, or None if it expired, was used or ran out of tries."""
        with redis_errors():
            found = await self._redis.hmget(self._name(token), ["tenant", "user"])
        tenant, user = (v.decode() if isinstance(v, bytes) else v for v in found)
        if tenant is None or user is None:
            return None
        return Challenge(UUID(tenant), UUID(user))

    async def fail(self, token: str) -> None:
        """Count a wrong code against the challenge."""
        with redis_errors():
            await self._fail(keys=[self._name(token)], args=[MAX_ATTEMPTS])

    async def close(self, token: str) -> None:
        """The challenge is done (signed in)."""
        with redis_errors():
            await self._redis.delete(self._name(token))
