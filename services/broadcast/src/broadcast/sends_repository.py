"""SQL of the dispatcher: outbound sends and the numbers they go out on.

Plain async functions, connection first, one statement each, `$n` parameters. Every function
taking a connection runs inside a tenant transaction (RLS); the two sweeper lookups go through
SECURITY DEFINER functions that return ids only (0009), like majlis.db.lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Conn: TypeAlias = "asyncpg.Connection[Any]"
Row = asyncpg.Record

PENDING = ("queued", "sending")


async def load_number(conn: Conn, number_id: UUID) -> Row | None:
    """What sending needs from one of the tenant's numbers; bulk_held / replies_held: Meta's
    restriction of the account holds that kind of send now (migration 0027)."""
    row: Row | None = await conn.fetchrow(
        "SELECT phone_number_id, access_token_enc, token_invalid_at, sending_blocked_at,"
        " coalesce(restricted_bulk_until > now(), false) AS bulk_held,"
        " coalesce(restricted_replies_until > now(), false) AS replies_held,"
        " send_rate AS rate FROM whatsapp_numbers WHERE id = $1",
        number_id,
    )
    return row


async def insert_send(
    conn: Conn,
    send_id: UUID,
    number_id: UUID,
    conversation_id: UUID | None,
    priority: str,
    payload_enc: bytes,
    due_in_s: float | None = None,
) -> bool:
    """Record a send as queued: owned by its bus delivery, or by the sweeper once due in
    `due_in_s` seconds; False if it already exists."""
    inserted = await conn.fetchval(
        "INSERT INTO outbound_sends (tenant_id, id, number_id, conversation_id, priority,"
        " payload_enc, next_attempt_at) VALUES ((SELECT app.current_tenant_id()), $1, $2, $3,"
        " $4, $5, now() + make_interval(secs => $6)) ON CONFLICT DO NOTHING RETURNING 1",
        send_id, number_id, conversation_id, priority, payload_enc, due_in_s,
    )  # fmt: skip
    return inserted is not None


async def insert_claimed(
    conn: Conn,
    send_id: UUID,
    number_id: UUID,
    conversation_id: UUID | None,
    priority: str,
    payload_enc: bytes,
) -> bool:
    """Record a new send already claimed for its first attempt (commit BEFORE calling Meta);
    False if it already exists (a redelivered command: it is never sent twice)."""
    inserted = await conn.fetchval(
        "INSERT INTO outbound_sends (tenant_id, id, number_id, conversation_id, priority,"
        " payload_enc, state, attempts) VALUES ((SELECT app.current_tenant_id()), $1, $2, $3,"
        " $4, $5, 'sending', 1) ON CONFLICT DO NOTHING RETURNING 1",
        send_id, number_id, conversation_id, priority, payload_enc,
    )  # fmt: skip
    return inserted is not None


async def load(conn: Conn, send_id: UUID) -> Row | None:
    """A send with what sending it needs from its number (as load_number says)."""
    row: Row | None = await conn.fetchrow(
        "SELECT s.id, s.number_id, s.priority, s.state, s.attempts, s.transient_failures,"
        " s.payload_enc, s.next_attempt_at, n.phone_number_id, n.access_token_enc,"
        " n.token_invalid_at, n.sending_blocked_at, n.send_rate AS rate,"
        " coalesce(n.restricted_bulk_until > now(), false) AS bulk_held,"
        " coalesce(n.restricted_replies_until > now(), false) AS replies_held"
        " FROM outbound_sends s"
        " JOIN whatsapp_numbers n ON n.tenant_id = s.tenant_id AND n.id = s.number_id"
        " WHERE s.id = $1",
        send_id,
    )
    return row


async def lease(conn: Conn, send_id: UUID, seconds: float) -> bool:
    """Take a due queued send for the sweeper for `seconds` (so no other sweeper takes it)."""
    leased = await conn.fetchval(
        "UPDATE outbound_sends SET next_attempt_at = now() + make_interval(secs => $2)"
        " WHERE id = $1 AND state = 'queued' AND next_attempt_at <= now() RETURNING 1",
        send_id, seconds,
    )  # fmt: skip
    return leased is not None


async def defer(conn: Conn, send_id: UUID, seconds: float) -> None:
    """Leave a queued send to the sweeper, due in `seconds` (pacing, a paused number)."""
    await conn.execute(
        "UPDATE outbound_sends SET next_attempt_at = now() + make_interval(secs => $2),"
        " updated_at = now() WHERE id = $1 AND state = 'queued'",
        send_id, seconds,
    )  # fmt: skip


async def claim(conn: Conn, send_id: UUID) -> int | None:
    """queued → sending (commit BEFORE calling Meta); the attempt number, or None if taken.

    A campaign's send is claimed only while its campaign runs: pausing or cancelling stops
    sends already handed to the dispatcher (pause parks them; resume hands them back).
    """
    attempts: int | None = await conn.fetchval(
        "UPDATE outbound_sends s SET state = 'sending', attempts = attempts + 1,"
        " next_attempt_at = NULL, updated_at = now()"
        " WHERE s.id = $1 AND s.state = 'queued' AND (s.priority <> 'bulk' OR NOT EXISTS ("
        "   SELECT 1 FROM campaign_recipients r JOIN campaigns c"
        "   ON c.tenant_id = r.tenant_id AND c.id = r.campaign_id"
        "   WHERE r.id = s.id AND c.state <> 'running'))"
        " RETURNING attempts",
        send_id,
    )
    return attempts


async def requeue(conn: Conn, send_id: UUID, seconds: float, *, transient: bool) -> bool:
    """sending → queued, due in `seconds` (Meta asked us to retry); counts transient failures."""
    done = await conn.fetchval(
        "UPDATE outbound_sends SET state = 'queued',"
        " next_attempt_at = now() + make_interval(secs => $2),"
        " transient_failures = transient_failures + $3, updated_at = now()"
        " WHERE id = $1 AND state = 'sending' RETURNING 1",
        send_id, seconds, 1 if transient else 0,
    )  # fmt: skip
    return done is not None


async def mark_sent(
    conn: Conn, send_id: UUID, wamid: str, from_states: Sequence[str], *, attempted: bool = False
) -> str | None:
    """→ sent with Meta's wamid, from one of `from_states`: the send's priority, or None if
    the send was not there."""
    priority: str | None = await conn.fetchval(
        "UPDATE outbound_sends SET state = 'sent', wamid = $2, payload_enc = NULL,"
        " next_attempt_at = NULL, error_code = NULL, error_title = NULL, updated_at = now()"
        " WHERE id = $1 AND state = ANY($3::text[]) AND (NOT $4 OR attempts > 0)"
        " RETURNING priority",
        send_id, wamid, list(from_states), attempted,
    )  # fmt: skip
    return priority


async def mark_failed(
    conn: Conn,
    send_id: UUID,
    code: int | None,
    title: str,
    from_states: Sequence[str],
    *,
    older_than_s: float = 0.0,
) -> str | None:
    """→ failed with a code and title: the send's priority, or None if it was not in one of
    `from_states`; `older_than_s` guards the outcome-unknown sweep."""
    priority: str | None = await conn.fetchval(
        "UPDATE outbound_sends SET state = 'failed', error_code = $2, error_title = $3,"
        " payload_enc = NULL, next_attempt_at = NULL, updated_at = now()"
        " WHERE id = $1 AND state = ANY($4::text[])"
        " AND updated_at <= now() - make_interval(secs => $5) RETURNING priority",
        send_id, code, title[:200], list(from_states), older_than_s,
    )  # fmt: skip
    return priority


async def mark_token_invalid(conn: Conn, number_id: UUID, token_enc: bytes) -> bool:
    """Pause a number's sends: Meta refused its token (unless it was replaced meanwhile)."""
    done = await conn.fetchval(
        "UPDATE whatsapp_numbers SET token_invalid_at = coalesce(token_invalid_at, now())"
        " WHERE id = $1 AND access_token_enc = $2 RETURNING 1",
        number_id, token_enc,
    )  # fmt: skip
    return done is not None


async def block_sending(conn: Conn, number_id: UUID, reason: str) -> bool:
    """Pause a number's sends: Meta blocked its account (reason: migration 0026). An earlier
    block keeps its time and reason. True if this call blocked it."""
    done = await conn.fetchval(
        "UPDATE whatsapp_numbers SET sending_blocked_at = now(), sending_blocked_reason = $2"
        " WHERE id = $1 AND sending_blocked_at IS NULL RETURNING 1",
        number_id, reason,
    )  # fmt: skip
    return done is not None


async def due_sends(pool: asyncpg.Pool[Any], limit: int) -> list[tuple[UUID, UUID]]:
    """(tenant_id, send_id) of queued sends due now on working numbers, interactive first."""
    rows = await pool.fetch("SELECT tenant_id, send_id FROM app.due_outbound_sends($1)", limit)
    return [(r["tenant_id"], r["send_id"]) for r in rows]


async def stale_sends(
    pool: asyncpg.Pool[Any], older_than_s: float, limit: int
) -> list[tuple[UUID, UUID]]:
    """(tenant_id, send_id) of sends claimed more than `older_than_s` ago and never settled."""
    rows = await pool.fetch(
        "SELECT tenant_id, send_id FROM app.stale_outbound_sends(make_interval(secs => $1), $2)",
        older_than_s, limit,
    )  # fmt: skip
    return [(r["tenant_id"], r["send_id"]) for r in rows]
