"""Presence in Redis, shared by the gateway (which hears the dashboards) and the inbox.

Two kinds, both with an expiry so a closed laptop or a crashed gateway never leaves someone
"online" or "typing" for good:

- Agent presence (online/away) per tenant: one sorted set per tenant and state, scored by
  the expiry time (Redis server clock, seconds). The dashboard's heartbeat renews it; the
  inbox's automatic assignment asks who is online.
- Conversation presence (viewing/typing) per conversation: one sorted set per conversation,
  member ``<user id>:<state>``, scored by expiry.

Keys are ``{prefix}presence:agents:{tenant}:{state}`` and
``{prefix}presence:conv:{tenant}:{conversation}``; members are ids only. Every Redis failure
raises `RedisUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import redis.asyncio as aioredis

from majlis.ratelimit import RedisUnavailable, redis_errors

__all__ = [
    "AGENT_TTL_SECONDS",
    "CONVERSATION_TTL_SECONDS",
    "AgentState",
    "ConversationPresence",
    "ConversationState",
    "Presence",
    "RedisUnavailable",
]

AgentState = Literal["online", "away"]
ConversationState = Literal["viewing", "typing"]
AGENT_STATES: tuple[AgentState, ...] = ("online", "away")
# A dashboard heartbeats every 25 s; two missed beats and the agent is offline.
AGENT_TTL_SECONDS = 60
# Viewing is renewed by the dashboard every 10-15 s; typing stops showing after 8 s.
CONVERSATION_TTL_SECONDS = {"viewing": 30, "typing": 8}

# Set one member's expiry (now + ttl on the server's clock) and drop expired members.
_TOUCH = """
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] == 'clear' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
# The unexpired members of a set.
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""


@dataclass(frozen=True, slots=True)
class ConversationPresence:
    """One person viewing or typing in a conversation."""

    user_id: UUID
    state: ConversationState


class Presence:
    """Agent and conversation presence for one Redis and key prefix."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        """Use this client; every key starts with `prefix`."""
        self._redis = redis
        self._prefix = prefix
        self._touch = redis.register_script(_TOUCH)
        self._live = redis.register_script(_LIVE)

    def _agents_key(self, tenant_id: UUID, state: AgentState) -> str:
        return f"{self._prefix}presence:agents:{tenant_id}:{state}"

    def _conversation_key(self, tenant_id: UUID, conversation_id: UUID) -> str:
        return f"{self._prefix}presence:conv:{tenant_id}:{conversation_id}"

    async def set_agent(
        self,
        tenant_id: UUID,
        user_id: UUID,
        state: AgentState | None,
        *,
        ttl_seconds: int = AGENT_TTL_SECONDS,
    ) -> None:
        """Mark an agent online or away for `ttl_seconds`; None marks them offline now."""
        keep = state or "online"
        others = [self._agents_key(tenant_id, s) for s in AGENT_STATES if s != keep]
        with redis_errors():
            await self._touch(
                keys=[self._agents_key(tenant_id, keep), *others],
                args=[str(user_id), "clear" if state is None else ttl_seconds, ttl_seconds * 2],
            )

    async def agents(self, tenant_id: UUID, state: AgentState = "online") -> set[UUID]:
        """The agents of a tenant currently in `state`."""
        with redis_errors():
            members = await self._live(keys=[self._agents_key(tenant_id, state)])
        return {UUID(_text(m)) for m in members}

    async def agent_state(self, tenant_id: UUID, user_id: UUID) -> AgentState | None:
        """One agent's state, None when offline."""
        for state in AGENT_STATES:
            if user_id in await self.agents(tenant_id, state):
                return state
        return None

    async def set_in_conversation(
        self,
        tenant_id: UUID,
        conversation_id: UUID,
        user_id: UUID,
        state: ConversationState | None,
    ) -> None:
        """Record that a user views or types in a conversation; None: they left it."""
        key = self._conversation_key(tenant_id, conversation_id)
        members = [f"{user_id}:viewing", f"{user_id}:typing"]
        with redis_errors():
            if state is None:
                await self._redis.zrem(key, *members)
                return
            ttl = CONVERSATION_TTL_SECONDS[state]
            await self._touch(keys=[key], args=[f"{user_id}:{state}", ttl, 120])
            if state == "typing":  # typing implies viewing
                await self._touch(
                    keys=[key],
                    args=[f"{user_id}:viewing", CONVERSATION_TTL_SECONDS["viewing"], 120],
                )

    async def in_conversation(
        self, tenant_id: UUID, conversation_id: UUID
    ) -> list[ConversationPresence]:
        """Who views and who types in a conversation now."""
        with redis_errors():
            members = await self._live(keys=[self._conversation_key(tenant_id, conversation_id)])
        found: list[ConversationPresence] = []
        for member in members:
            user, _, state = _text(member).partition(":")
            if state in ("viewing", "typing"):
                found.append(ConversationPresence(UUID(user), state))  # type: ignore[arg-type]
        return sorted(found, key=lambda p: (str(p.user_id), p.state))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def user_ids(entries: Iterable[ConversationPresence]) -> set[UUID]:
    """The distinct users of presence entries."""
    return {entry.user_id for entry in entries}
