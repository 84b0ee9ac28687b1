"""Which conversation an inbound message lands in: found, woken, reopened or created.

One (contact, number) is serialised by an advisory lock, so two messages of a customer never
create two conversations or reopen different old ones. `status` is only written when it
changes: the counters' trigger fires on UPDATE OF status and would otherwise rewrite the
tenant's hot counter row for every message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

# A string: asyncpg's Connection is not subscriptable at runtime (as in inbox.repository).
Conn: TypeAlias = "asyncpg.Connection[Any]"


@dataclass(frozen=True, slots=True)
class OpenedConversation:
    """The conversation an inbound message landed in, and how it got there.

    outcome: "created" (new), "reopened" (was resolved), "woken" (was snoozed or pending) or
    "existing" (was open).
    """

    id: UUID
    contact_id: UUID
    number_id: UUID
    status: str
    controller: str
    assigned_user_id: UUID | None
    outcome: str
    team_id: UUID | None = None


async def lock_contact_number(conn: Conn, contact_id: UUID, number_id: UUID) -> None:
    """Serialise opening conversations of one (contact, number) until the transaction ends.

    Anyone who creates or reopens a conversation of a contact on a number takes this lock
    first, so two messages never both create one, or both reopen different old ones.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('inbox.conversation|'"
        " || (SELECT app.current_tenant_id())::text"
        " || '|' || $1::uuid::text || '|' || $2::uuid::text, 0))",
        contact_id,
        number_id,
    )


_OPENED_COLUMNS = "id, contact_id, number_id, status, controller, assigned_user_id, team_id"


async def latest_conversation_for_update(
    conn: Conn, contact_id: UUID, number_id: UUID
) -> tuple[UUID, str] | None:
    """(id, status) of the unresolved conversation, else the latest resolved one; row locked."""
    row = await conn.fetchrow(
        "SELECT id, status FROM conversations WHERE contact_id = $1 AND number_id = $2"
        " ORDER BY (status <> 'resolved') DESC, resolved_at DESC NULLS LAST, created_at DESC,"
        " id DESC LIMIT 1 FOR UPDATE",
        contact_id,
        number_id,
    )
    return None if row is None else (row["id"], row["status"])


async def touch_conversation(
    conn: Conn,
    conversation_id: UUID,
    *,
    reopen: bool,
    message_at: datetime,
    customer_message_at: datetime | None,
) -> Any:
    """Record a new inbound message on a conversation; `reopen` also makes it open again."""
    # `status` is only named when it changes (see the module docstring).
    reopening = "status = 'open', snoozed_until = NULL, resolved_at = NULL," if reopen else ""
    return await conn.fetchrow(
        f"""
        UPDATE conversations SET {reopening}
          last_customer_message_at = GREATEST(last_customer_message_at, $3),
          last_message_at = GREATEST(last_message_at, $2),
          unread_count = unread_count + CASE WHEN $3::timestamptz IS NULL THEN 0 ELSE 1 END,
          updated_at = now()
        WHERE id = $1 RETURNING {_OPENED_COLUMNS}
        """,  # noqa: S608  (two fixed texts)
        conversation_id,
        message_at,
        customer_message_at,
    )


async def insert_conversation(
    conn: Conn,
    tenant_id: UUID,
    new_id: UUID,
    contact_id: UUID,
    number_id: UUID,
    *,
    message_at: datetime,
    customer_message_at: datetime | None,
) -> Any | None:
    """Create an open conversation; None if an unresolved one exists already."""
    return await conn.fetchrow(
        f"""
        INSERT INTO conversations (tenant_id, id, contact_id, number_id, status,
                                   last_customer_message_at, last_message_at, unread_count)
        VALUES ($1, $2, $3, $4, 'open', $6, $5, CASE WHEN $6::timestamptz IS NULL THEN 0 ELSE 1 END)
        ON CONFLICT (tenant_id, contact_id, number_id) WHERE status <> 'resolved' DO NOTHING
        RETURNING {_OPENED_COLUMNS}
        """,  # noqa: S608  (fixed text)
        tenant_id,
        new_id,
        contact_id,
        number_id,
        message_at,
        customer_message_at,
    )


def _opened(row: Any, outcome: str) -> OpenedConversation:
    return OpenedConversation(
        row["id"],
        row["contact_id"],
        row["number_id"],
        row["status"],
        row["controller"],
        row["assigned_user_id"],
        outcome,
        row["team_id"],
    )


async def open_conversation(
    conn: Conn,
    tenant_id: UUID,
    new_id: UUID,
    contact_id: UUID,
    number_id: UUID,
    *,
    message_at: datetime,
    customer_message_at: datetime | None,
) -> OpenedConversation:
    """The conversation of (contact, number) a new inbound message belongs to, made open.

    The unresolved one if any (a snoozed or pending one is woken); else the most recent
    resolved one is reopened (one thread per customer, with its history); else a new one.
    `customer_message_at` (None for WhatsApp's own system messages) restarts the 24-hour
    window and counts as unread; times only move forward, whatever order messages arrive in.
    """
    await lock_contact_number(conn, contact_id, number_id)
    for _ in range(2):
        found = await latest_conversation_for_update(conn, contact_id, number_id)
        if found is not None:
            conversation_id, previous = found
            row = await touch_conversation(
                conn,
                conversation_id,
                reopen=previous != "open",
                message_at=message_at,
                customer_message_at=customer_message_at,
            )
            outcome = {"open": "existing", "resolved": "reopened"}.get(previous, "woken")
            return _opened(row, outcome)
        row = await insert_conversation(
            conn,
            tenant_id,
            new_id,
            contact_id,
            number_id,
            message_at=message_at,
            customer_message_at=customer_message_at,
        )
        if row is not None:
            return _opened(row, "created")
        # A writer that does not take the lock created one meanwhile: use that one.
    raise RuntimeError("conversation neither insertable nor found")


async def set_last_message_seq(conn: Conn, conversation_id: UUID, message_id: UUID) -> None:
    """Point the conversation's "latest" marker at a message it holds (never backwards)."""
    await conn.execute(
        "UPDATE conversations SET last_message_seq = GREATEST(last_message_seq,"
        " (SELECT seq FROM messages WHERE id = $2)) WHERE id = $1",
        conversation_id,
        message_id,
    )
