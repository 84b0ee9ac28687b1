"""SQL of the analytics rollups: plain async functions, connection first, one statement each.

Every function runs inside a tenant transaction (RLS); nothing here reads message bodies or
personal data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from broadcast.analytics.cycles import Cycle, Fact
from majlis.business_hours import BusinessHours

Conn: TypeAlias = "asyncpg.Connection[Any]"
UNKNOWN_NUMBER = UUID(int=0)


async def lock_conversation(conn: Conn, conversation_id: UUID) -> None:
    """Serialise the recomputation of one conversation's cycles until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('analytics.conversation|'"
        " || (SELECT app.current_tenant_id())::text || '|' || $1::uuid::text, 0))",
        conversation_id,
    )


async def tenant_zone_name(conn: Conn) -> str:
    """The tenant's time zone (an IANA name)."""
    name = await conn.fetchval(
        "SELECT timezone FROM tenants WHERE id = (SELECT app.current_tenant_id())"
    )
    return name if isinstance(name, str) else "UTC"


async def tenant_clock(conn: Conn) -> tuple[str, BusinessHours]:
    """The tenant's zone name and business hours (24/7 when none are set)."""
    row = await conn.fetchrow(
        "SELECT t.timezone, b.weekly, b.holidays FROM tenants t"
        " LEFT JOIN business_hours b ON b.tenant_id = t.id"
        " WHERE t.id = (SELECT app.current_tenant_id())"
    )
    if row is None:
        return "UTC", BusinessHours.always()
    if row["weekly"] is None:
        return row["timezone"], BusinessHours.always()
    hours = BusinessHours.stored(row["weekly"], row["holidays"])
    return row["timezone"], hours


async def insert_fact(
    conn: Conn, tenant_id: UUID, event_id: UUID, conversation_id: UUID, fact: Fact
) -> bool:
    """Store a fact once per event; False if this event was stored already."""
    done = await conn.fetchval(
        "INSERT INTO analytics_conversation_facts (tenant_id, event_id, conversation_id,"
        " number_id, kind, at, status, controller, assigned_user_id, user_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        tenant_id, event_id, conversation_id, fact.number_id, fact.kind, fact.at, fact.status,
        fact.controller, fact.assigned_user_id, fact.user_id,
    )  # fmt: skip
    return done is not None


async def facts(conn: Conn, conversation_id: UUID) -> list[Fact]:
    """Every fact of a conversation, oldest first."""
    rows = await conn.fetch(
        "SELECT at, kind, number_id, status, controller, assigned_user_id, user_id"
        " FROM analytics_conversation_facts WHERE conversation_id = $1 ORDER BY at, event_id",
        conversation_id,
    )
    return [Fact(**dict(r)) for r in rows]


async def conversation_number(conn: Conn, conversation_id: UUID) -> UUID | None:
    """The number of a conversation, as its facts know it."""
    value = await conn.fetchval(
        "SELECT number_id FROM analytics_conversation_facts"
        " WHERE conversation_id = $1 AND number_id IS NOT NULL LIMIT 1",
        conversation_id,
    )
    return value if isinstance(value, UUID) else None


async def replace_cycles(
    conn: Conn, tenant_id: UUID, conversation_id: UUID, cycles: list[Cycle]
) -> None:
    """Put a conversation's recomputed cycles in place of the old ones."""
    await conn.execute("DELETE FROM analytics_cycles WHERE conversation_id = $1", conversation_id)
    await conn.executemany(
        "INSERT INTO analytics_cycles (tenant_id, conversation_id, cycle, number_id, opened_at,"
        " first_response_at, first_response_s, first_responder_id, resolved_at, resolution_s,"
        " resolver_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        [
            (tenant_id, conversation_id, c.cycle, c.number_id, c.opened_at, c.first_response_at,
             c.first_response_s, c.first_responder_id, c.resolved_at, c.resolution_s,
             c.resolver_id)
            for c in cycles
        ],
    )  # fmt: skip


async def count_message(
    conn: Conn, tenant_id: UUID, day: date, number_id: UUID, *, inbound: bool
) -> None:
    """One more message in (or out) on a local day and number.

    Counted in the slot of the database session (pg_backend_pid() % 16), as the conversation
    counters are (migration 0037): concurrent transactions are on different sessions, so they
    rarely wait on one row. (Slots by message id, as first kept, collided at random: with a
    dozen consumers at once most transactions waited on another's row until it committed.)
    """
    await conn.execute(
        "INSERT INTO analytics_daily_messages AS d (tenant_id, day, number_id, slot,"
        " messages_in, messages_out) VALUES ($1, $2, $3, pg_backend_pid() % 16, $4, $5)"
        " ON CONFLICT (tenant_id, day, number_id, slot)"
        " DO UPDATE SET messages_in = d.messages_in + excluded.messages_in,"
        " messages_out = d.messages_out + excluded.messages_out",
        tenant_id, day, number_id, int(inbound), int(not inbound),
    )  # fmt: skip


async def count_reply(
    conn: Conn, tenant_id: UUID, day: date, user_id: UUID, number_id: UUID | None
) -> None:
    """One more reply by a person on a local day and number."""
    await conn.execute(
        "INSERT INTO analytics_daily_replies AS d (tenant_id, day, user_id, number_id, replies)"
        " VALUES ($1, $2, $3, $4, 1) ON CONFLICT (tenant_id, day, user_id, number_id)"
        " DO UPDATE SET replies = d.replies + 1",
        tenant_id,
        day,
        user_id,
        number_id or UNKNOWN_NUMBER,
    )


async def upsert_lead(
    conn: Conn, tenant_id: UUID, lead_id: UUID, stage: str, source: str, at: datetime
) -> None:
    """A lead's latest stage (a late, older event never wins) and its first source."""
    await conn.execute(
        "INSERT INTO analytics_leads AS l (tenant_id, lead_id, stage, source, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
        " ON CONFLICT (tenant_id, lead_id) DO UPDATE SET"
        " stage = CASE WHEN excluded.updated_at >= l.updated_at THEN excluded.stage"
        "  ELSE l.stage END,"
        " source = CASE WHEN excluded.created_at < l.created_at THEN excluded.source"
        "  ELSE l.source END,"
        " created_at = least(l.created_at, excluded.created_at),"
        " updated_at = greatest(l.updated_at, excluded.updated_at)",
        tenant_id, lead_id, stage, source, at,
    )  # fmt: skip
