"""SQL of replying and of send results: plain async functions, connection first, `$n` params.

Every function runs inside a tenant transaction; row-level security scopes each statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from inbox.repository import Conn

_MESSAGE_COLUMNS = (
    "id, conversation_id, direction, type, status, sender_kind, sender_user_id, body_enc, seq,"
    " created_at, error_code, error_title, idempotency_key"
)


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """A conversation, locked for a reply, with what the reply rules need."""

    id: UUID
    contact_id: UUID
    number_id: UUID
    status: str
    assigned_user_id: UUID | None
    controller: str
    is_window_open: bool
    is_contact_restricted: bool
    phone_enc: bytes | None
    bsuid_enc: bytes | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A stored message, body still encrypted."""

    id: UUID
    conversation_id: UUID
    direction: str
    type: str
    status: str
    sender_kind: str
    sender_user_id: UUID | None
    body_enc: bytes | None
    seq: int
    created_at: datetime
    error_code: int | None
    error_title: str | None
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class MessageState:
    """Where an outbound message stands (for MessageStatusChanged)."""

    id: UUID
    conversation_id: UUID
    status: str
    error_code: int | None


def _message(row: Any) -> MessageRow:
    return MessageRow(*(row[name] for name in _MESSAGE_COLUMNS.split(", ")))


async def lock_reply_target(conn: Conn, conversation_id: UUID) -> ReplyTarget | None:
    """The conversation and its contact, the conversation row locked until the transaction ends."""
    row = await conn.fetchrow(
        """
        SELECT c.id, c.contact_id, c.number_id, c.status, c.assigned_user_id, c.controller,
               COALESCE(c.last_customer_message_at > now() - interval '24 hours', false)
                 AS is_window_open,
               (ct.deleted_at IS NOT NULL OR ct.processing_restricted) AS is_contact_restricted,
               ct.phone_enc, ct.bsuid_enc
        FROM conversations AS c JOIN contacts AS ct ON ct.id = c.contact_id
        WHERE c.id = $1
        FOR UPDATE OF c
        """,
        conversation_id,
    )
    return ReplyTarget(*row.values()) if row is not None else None


async def advance_bot_step(conn: Conn, conversation_id: UUID, step: int) -> int:
    """Record `step` as applied (never moving back); returns the highest applied before it.
    The caller holds the conversation's row lock, so "before" is what this update follows."""
    before: int = await conn.fetchval(
        "UPDATE conversations AS c SET bot_step_applied = GREATEST(c.bot_step_applied, $2)"
        " FROM (SELECT bot_step_applied FROM conversations WHERE id = $1) AS before"
        " WHERE c.id = $1 RETURNING before.bot_step_applied",
        conversation_id,
        step,
    )
    return before


async def message_by_idempotency_key(
    conn: Conn, conversation_id: UUID, key: str
) -> MessageRow | None:
    """The message a client stored earlier under this key in this conversation."""
    row = await conn.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages"  # noqa: S608  (a constant column list)
        " WHERE conversation_id = $1 AND idempotency_key = $2",
        conversation_id,
        key,
    )
    return _message(row) if row is not None else None


async def message_seq(conn: Conn, conversation_id: UUID, message_id: UUID) -> int | None:
    """The seq of a message of this conversation; None if it is not one of its messages."""
    seq: int | None = await conn.fetchval(
        "SELECT seq FROM messages WHERE id = $1 AND conversation_id = $2",
        message_id,
        conversation_id,
    )
    return seq


async def newer_replies_by_others(
    conn: Conn, conversation_id: UUID, after_seq: int, own_user_id: UUID | None, limit: int
) -> list[MessageRow]:
    """Outbound messages after `after_seq` not written by `own_user_id` (None: by anyone)."""
    rows = await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages"  # noqa: S608  (a constant column list)
        " WHERE conversation_id = $1 AND direction = 'outbound' AND seq > $2"
        " AND ($3::uuid IS NULL OR sender_user_id IS DISTINCT FROM $3)"
        " ORDER BY seq LIMIT $4",
        conversation_id,
        after_seq,
        own_user_id,
        limit,
    )
    return [_message(r) for r in rows]


async def active_user_ids(conn: Conn, user_ids: Sequence[UUID]) -> set[UUID]:
    """Which of these ids are active users of the tenant."""
    rows = await conn.fetch(
        "SELECT id FROM users WHERE id = ANY($1::uuid[]) AND is_active", list(user_ids)
    )
    return {r["id"] for r in rows}


async def insert_message(
    conn: Conn,
    tenant_id: UUID,
    message_id: UUID,
    conversation_id: UUID,
    *,
    direction: str,
    message_type: str,
    body_enc: bytes,
    status: str,
    sender_kind: str,
    sender_user_id: UUID | None,
    idempotency_key: str | None,
) -> MessageRow:
    """Store an outbound message or a note; its seq orders it after everything stored before."""
    row = await conn.fetchrow(
        "INSERT INTO messages (tenant_id, id, conversation_id, direction, type, body_enc,"  # noqa: S608
        " status,"
        " sender_kind, sender_user_id, idempotency_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        f" RETURNING {_MESSAGE_COLUMNS}",
        tenant_id,
        message_id,
        conversation_id,
        direction,
        message_type,
        body_enc,
        status,
        sender_kind,
        sender_user_id,
        idempotency_key,
    )
    return _message(row)


async def touch_conversation(
    conn: Conn, conversation_id: UUID, seq: int, at: datetime | None = None
) -> None:
    """Record a new latest message on the conversation, sent `at` (default now); times and
    seq only move forward."""
    await conn.execute(
        "UPDATE conversations SET last_message_at = GREATEST(last_message_at,"
        " COALESCE($3, now())), last_message_seq = GREATEST(last_message_seq, $2),"
        " updated_at = now() WHERE id = $1",
        conversation_id,
        seq,
        at,
    )


async def insert_mentions(
    conn: Conn, tenant_id: UUID, message_id: UUID, user_ids: Sequence[UUID]
) -> None:
    """Record the users a note mentions."""
    await conn.execute(
        "INSERT INTO message_mentions (tenant_id, message_id, user_id)"
        " SELECT $1, $2, u FROM unnest($3::uuid[]) AS u ON CONFLICT DO NOTHING",
        tenant_id,
        message_id,
        list(user_ids),
    )


async def mentions_of(conn: Conn, message_id: UUID) -> list[UUID]:
    """The users a note mentions."""
    rows = await conn.fetch(
        "SELECT user_id FROM message_mentions WHERE message_id = $1 ORDER BY user_id", message_id
    )
    return [r["user_id"] for r in rows]


async def mark_sent(conn: Conn, message_id: UUID, wamid: str) -> tuple[MessageState, bool] | None:
    """Link the wamid; status 'sent' only from queued/sending. (state, moved); None if unknown."""
    row = await conn.fetchrow(
        """
        WITH target AS (
          SELECT id, status FROM messages WHERE id = $1 AND direction = 'outbound' FOR UPDATE
        )
        UPDATE messages AS m SET
          wamid = COALESCE(m.wamid, $2),
          status = CASE WHEN t.status IN ('queued', 'sending') THEN 'sent' ELSE m.status END,
          updated_at = now()
        FROM target AS t WHERE m.id = t.id
        RETURNING m.id, m.conversation_id, m.status, m.error_code,
                  t.status IN ('queued', 'sending') AS moved
        """,
        message_id,
        wamid,
    )
    if row is None:
        return None
    state = MessageState(row["id"], row["conversation_id"], row["status"], row["error_code"])
    return state, row["moved"]


async def mark_failed(
    conn: Conn, message_id: UUID, error_code: int | None, error_title: str | None
) -> MessageState | None:
    """Status 'failed' with Meta's error, only from queued/sending/sent; None if not moved."""
    row = await conn.fetchrow(
        "UPDATE messages SET status = 'failed', error_code = $2, error_title = $3,"
        " updated_at = now() WHERE id = $1 AND direction = 'outbound'"
        " AND status IN ('queued', 'sending', 'sent')"
        " RETURNING id, conversation_id, status, error_code",
        message_id,
        error_code,
        error_title,
    )
    return MessageState(*row.values()) if row is not None else None


async def state_by_wamid(conn: Conn, wamid: str) -> MessageState | None:
    """The outbound message with this wamid, where it stands."""
    row = await conn.fetchrow(
        "SELECT id, conversation_id, status, error_code FROM messages"
        " WHERE wamid = $1 AND direction = 'outbound'",
        wamid,
    )
    return MessageState(*row.values()) if row is not None else None
