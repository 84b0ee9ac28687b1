"""SQL of the engine: conversations and messages it reads, sessions and logs it writes.

Every function runs inside a tenant transaction; row-level security scopes each statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

Conn = Any
_SESSION = (
    "id, flow_id, version_id, conversation_id, current_node, status, variables_enc, visits,"
    " steps, attempts, wake_at, last_message_seq, attempt_id, pending_enc, queued_seq"
)


async def lock_conversation(conn: Conn, conversation_id: UUID) -> None:
    """Serialise the engine's work on one conversation until the transaction ends."""
    # A transaction-level advisory lock: released at commit/rollback, never leaked by a crash.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", str(conversation_id)
    )


async def next_bot_step(conn: Conn, tenant_id: UUID, conversation_id: UUID) -> int:
    """The conversation's next bot step number, 1, 2, 3, ... (the caller holds its lock)."""
    step: int = await conn.fetchval(
        "INSERT INTO bot_action_steps (tenant_id, conversation_id, last_step) VALUES ($1, $2, 1)"
        " ON CONFLICT (tenant_id, conversation_id)"
        " DO UPDATE SET last_step = bot_action_steps.last_step + 1 RETURNING last_step",
        tenant_id,
        conversation_id,
    )
    return step


async def conversation(conn: Conn, conversation_id: UUID) -> Any | None:
    """Who controls the conversation, its status, number and contact."""
    return await conn.fetchrow(
        "SELECT id, controller, status, number_id, contact_id FROM conversations WHERE id = $1",
        conversation_id,
    )


async def inbound_message(conn: Conn, message_id: UUID) -> Any | None:
    """An inbound message: seq, type and encrypted body."""
    return await conn.fetchrow(
        "SELECT id, conversation_id, seq, type, body_enc FROM messages"
        " WHERE id = $1 AND direction = 'inbound'",
        message_id,
    )


async def is_first_inbound(conn: Conn, conversation_id: UUID, seq: int) -> bool:
    """True when no earlier inbound message exists in the conversation."""
    earlier: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1"
        " AND direction = 'inbound' AND seq < $2)",
        conversation_id,
        seq,
    )
    return not earlier


async def is_campaign_message(conn: Conn, wamid: str) -> bool:
    """True when `wamid` is a message a campaign sent."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE wamid = $1 AND sender_kind = 'campaign')",
        wamid,
    )
    return found


async def team_exists(conn: Conn, team_id: UUID) -> bool:
    """True if the team (inbox teams, 0020) belongs to the transaction's tenant."""
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)", team_id)
    return found


async def contact(conn: Conn, contact_id: UUID) -> Any | None:
    """The contact's encrypted name, email and attributes, and its tags."""
    return await conn.fetchrow(
        "SELECT name_enc, email_enc, attributes_enc,"
        " coalesce((SELECT array_agg(t.tag ORDER BY t.tag) FROM contact_tags t"
        "  WHERE t.contact_id = c.id), '{}') AS tags FROM contacts c WHERE c.id = $1",
        contact_id,
    )


async def active_session(conn: Conn, conversation_id: UUID) -> Any | None:
    """The conversation's unfinished session, locked."""
    return await conn.fetchrow(
        f"SELECT {_SESSION} FROM flow_sessions"  # noqa: S608  (fixed text)
        " WHERE conversation_id = $1 AND status <> 'ended' FOR UPDATE",
        conversation_id,
    )


async def session(conn: Conn, session_id: UUID) -> Any | None:
    """One session, locked."""
    return await conn.fetchrow(
        f"SELECT {_SESSION} FROM flow_sessions WHERE id = $1 FOR UPDATE",  # noqa: S608
        session_id,
    )


async def session_state(conn: Conn, session_id: UUID) -> Any | None:
    """A session's status and node (unlocked read)."""
    return await conn.fetchrow(
        "SELECT status, current_node FROM flow_sessions WHERE id = $1", session_id
    )


async def session_conversation(conn: Conn, session_id: UUID) -> UUID | None:
    """The conversation of a session (unlocked read, to take the conversation lock first)."""
    found: UUID | None = await conn.fetchval(
        "SELECT conversation_id FROM flow_sessions WHERE id = $1", session_id
    )
    return found


async def insert_session(
    conn: Conn,
    tenant_id: UUID,
    session_id: UUID,
    flow_id: UUID,
    version_id: UUID,
    conversation_id: UUID,
    start: str,
    variables_enc: bytes,
) -> None:
    """Start a session at the flow's start node."""
    await conn.execute(
        "INSERT INTO flow_sessions (tenant_id, id, flow_id, version_id, conversation_id,"
        " current_node, status, variables_enc) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7)",
        tenant_id, session_id, flow_id, version_id, conversation_id, start, variables_enc,
    )  # fmt: skip


async def save_session(
    conn: Conn,
    session_id: UUID,
    *,
    current_node: str,
    status: str,
    end_reason: str | None,
    variables_enc: bytes,
    visits: dict[str, int],
    steps: int,
    attempts: int,
    wake_at: datetime | None,
    last_message_seq: int | None,
    attempt_id: UUID | None = None,
    pending_enc: bytes | None = None,
    queued_seq: int | None = None,
) -> None:
    """Write a session's state after a step."""
    await conn.execute(
        "UPDATE flow_sessions SET current_node = $2, status = $3, end_reason = $4,"
        " variables_enc = $5, visits = $6::jsonb, steps = $7, attempts = $8, wake_at = $9,"
        " last_message_seq = GREATEST(last_message_seq, $10), attempt_id = $11,"
        " pending_enc = $12, queued_seq = $13, updated_at = now() WHERE id = $1",
        session_id, current_node, status, end_reason, variables_enc, visits, steps, attempts,
        wake_at, last_message_seq, attempt_id, pending_enc, queued_seq,
    )  # fmt: skip


async def end_active(conn: Conn, conversation_id: UUID, reason: str) -> None:
    """End the conversation's unfinished session, if any (a pending call's result is dropped)."""
    await conn.execute(
        "UPDATE flow_sessions SET status = 'ended', end_reason = $2, wake_at = NULL,"
        " attempt_id = NULL, pending_enc = NULL, updated_at = now()"
        " WHERE conversation_id = $1 AND status <> 'ended'",
        conversation_id,
        reason,
    )


async def inbound_between(
    conn: Conn, conversation_id: UUID, after: int | None, through: int
) -> list[UUID]:
    """Ids of the inbound messages with after < seq <= through, oldest first; never the
    imported history of the WhatsApp Business app (seq below 1: inbox.history)."""
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'inbound'"
        " AND seq > GREATEST(COALESCE($2::bigint, 0), 0) AND seq <= $3 ORDER BY seq",
        conversation_id, after, through,
    )  # fmt: skip
    return [row["id"] for row in rows]


async def insert_log(conn: Conn, tenant_id: UUID, row: tuple[Any, ...]) -> None:
    """One node execution."""
    await conn.execute(
        "INSERT INTO flow_logs (tenant_id, id, flow_id, version_id, session_id, conversation_id,"
        " node_id, node_type, outcome, duration_ms, error, detail_enc)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        tenant_id,
        *row,
    )


async def due_sessions(conn: Conn, limit: int) -> list[Any]:
    """(tenant_id, session_id) of sessions whose timer is due, across tenants (ids only)."""
    return list(
        await conn.fetch("SELECT tenant_id, session_id FROM app.due_flow_sessions($1)", limit)
    )
