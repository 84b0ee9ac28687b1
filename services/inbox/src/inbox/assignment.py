"""Automatic assignment of new conversations, per number: manual, round-robin or balanced.

- round_robin: among online agents, the one who got a conversation longest ago (never first;
  ties to the lowest user id), skipping agents at capacity when a capacity is set.
- balanced: the online agent with the fewest active conversations (agent_loads, kept by the
  trigger of 0005: never counted here), ties by oldest assignment, agents at capacity skipped.

A conversation handed to a team (`pick_team_member`) goes to one of the team's online members
by the same rule and capacity (balanced when the number's policy is manual: asking for an
automatic pick is the caller's explicit wish).

`choose_agent` is the pure rule; `assign_new_conversation` applies it inside the inbound
transaction, serialised per tenant so two new conversations never both take the same
"least loaded" agent from the same snapshot of loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from inbox import conversations_repository as repo
from inbox import teams as teams_repo
from inbox.repository import Conn
from majlis.logging import get_logger
from majlis.presence import Presence, RedisUnavailable

log = get_logger(__name__)

Mode = Literal["manual", "round_robin", "balanced"]


@dataclass(frozen=True, slots=True)
class Policy:
    """A number's assignment policy (manual when none is stored)."""

    mode: Mode
    agent_capacity: int | None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An online, active agent and their load."""

    user_id: UUID
    active_count: int
    last_assigned_at: datetime | None


MANUAL = Policy("manual", None)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _oldest_first(c: Candidate) -> tuple[bool, datetime]:
    # Never assigned sorts before any time: a newcomer gets the next conversation.
    stamp = c.last_assigned_at
    return (stamp is not None, stamp if stamp is not None else _EPOCH)


def choose_agent(mode: Mode, candidates: list[Candidate], capacity: int | None) -> UUID | None:
    """The agent a new conversation goes to under `mode`, or None if nobody is eligible."""
    eligible = [c for c in candidates if capacity is None or c.active_count < capacity]
    if mode == "manual" or not eligible:
        return None
    if mode == "round_robin":
        return min(eligible, key=lambda c: (*_oldest_first(c), c.user_id)).user_id
    return min(eligible, key=lambda c: (c.active_count, *_oldest_first(c), c.user_id)).user_id


def policy_json(number_id: UUID, policy: Policy) -> dict[str, Any]:
    """A policy as the API answers it."""
    return {
        "number_id": str(number_id),
        "mode": policy.mode,
        "agent_capacity": policy.agent_capacity,
        "updated_at": policy.updated_at.isoformat() if policy.updated_at else None,
    }


async def policy_for(conn: Conn, number_id: UUID) -> Policy:
    """The number's policy (manual if none is stored)."""
    row = await conn.fetchrow(
        "SELECT mode, agent_capacity, updated_at FROM assignment_policies WHERE number_id = $1",
        number_id,
    )
    if row is None:
        return MANUAL
    return Policy(row["mode"], row["agent_capacity"], row["updated_at"])


async def number_exists(conn: Conn, number_id: UUID) -> bool:
    """True if the number belongs to the transaction's tenant."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM whatsapp_numbers WHERE id = $1)", number_id
    )
    return found


async def save_policy(conn: Conn, tenant_id: UUID, number_id: UUID, policy: Policy) -> Policy:
    """Create or replace a number's policy."""
    row = await conn.fetchrow(
        "INSERT INTO assignment_policies AS p (tenant_id, number_id, mode, agent_capacity)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, number_id) DO UPDATE"
        " SET mode = $3, agent_capacity = $4, updated_at = now()"
        " RETURNING mode, agent_capacity, updated_at",
        tenant_id,
        number_id,
        policy.mode,
        policy.agent_capacity,
    )
    if row is None:  # unreachable: an upsert with RETURNING yields its row
        raise RuntimeError("policy upsert returned nothing")
    return Policy(row["mode"], row["agent_capacity"], row["updated_at"])


async def lock_tenant_assignment(conn: Conn) -> None:
    """Serialise automatic assignment within the tenant until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "'inbox.assign|' || (SELECT app.current_tenant_id())::text, 0))"
    )


async def candidates(conn: Conn, user_ids: set[UUID]) -> list[Candidate]:
    """The active owners, admins and agents among `user_ids`, with their loads."""
    rows = await conn.fetch(
        "SELECT u.id, coalesce(l.active_count, 0) AS active_count, l.last_assigned_at"
        " FROM users u LEFT JOIN agent_loads l ON l.user_id = u.id"
        " WHERE u.id = ANY ($1::uuid[]) AND u.is_active AND u.role IN ('owner', 'admin', 'agent')",
        list(user_ids),
    )
    return [Candidate(r["id"], r["active_count"], r["last_assigned_at"]) for r in rows]


async def assign_among(
    conn: Conn, tenant_id: UUID, conversation_id: UUID, policy: Policy, online: set[UUID]
) -> UUID | None:
    """Assign the conversation to the agent `policy` picks among `online`; None if nobody."""
    if policy.mode == "manual" or not online:
        return None
    await lock_tenant_assignment(conn)
    chosen = choose_agent(policy.mode, await candidates(conn, online), policy.agent_capacity)
    if chosen is None:
        return None
    # An assigned person answers: the bot steps back, as with a manual assignment.
    await repo.set_owner(conn, conversation_id, controller="human", assigned_user_id=chosen)
    await repo.note_assigned(conn, tenant_id, chosen)
    return chosen


async def assign_new_conversation(
    conn: Conn, tenant_id: UUID, conversation_id: UUID, number_id: UUID, presence: Presence
) -> UUID | None:
    """Auto-assign a conversation an inbound message just created, per its number's policy."""
    policy = await policy_for(conn, number_id)
    if policy.mode == "manual":
        return None
    try:
        online = await presence.agents(tenant_id, "online")
    except RedisUnavailable:
        # Storing the customer's message matters more: it stays unassigned for a person.
        log.warning("inbox.auto_assign_skipped", reason="presence_unavailable")
        return None
    chosen = await assign_among(conn, tenant_id, conversation_id, policy, online)
    log.info(
        "inbox.auto_assigned" if chosen else "inbox.auto_assign_nobody",
        conversation_id=str(conversation_id),
        mode=policy.mode,
        agent_id=str(chosen) if chosen else None,
    )
    return chosen


async def pick_team_member(
    conn: Conn, tenant_id: UUID, number_id: UUID, team_id: UUID, presence: Presence | None
) -> UUID | None:
    """The online member of the team the number's policy picks (capacity counted); None if none.

    Only picks: the caller assigns (and notes the assignment) in the same transaction, which
    holds the tenant's assignment lock taken here, so two picks never use one snapshot of loads.
    """
    if presence is None:
        return None
    policy = await policy_for(conn, number_id)
    mode: Mode = "balanced" if policy.mode == "manual" else policy.mode
    try:
        online = await presence.agents(tenant_id, "online")
    except RedisUnavailable:
        log.warning("inbox.team_assign_skipped", reason="presence_unavailable")
        return None
    eligible = online & await teams_repo.member_ids(conn, team_id)
    if not eligible:
        return None
    await lock_tenant_assignment(conn)
    return choose_agent(mode, await candidates(conn, eligible), policy.agent_capacity)
