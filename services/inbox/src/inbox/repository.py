"""The inbox's SQL: plain async functions, connection first, one statement each, `$n` params.

Every function runs inside majlis.db.tenant_transaction(); row-level security scopes each
statement to that transaction's tenant, so no statement repeats the tenant filter (inserts
pass tenant_id explicitly, and the policy's WITH CHECK holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

# Re-exported: opening a conversation is part of storing an inbound message.
from inbox.conversation_opening import (
    OpenedConversation,
    open_conversation,
    set_last_message_seq,
)

# A string: asyncpg's Connection is not subscriptable at runtime.
Conn: TypeAlias = "asyncpg.Connection[Any]"


@dataclass(frozen=True, slots=True)
class ContactMatch:
    """A contact found by blind index, and which identifiers it already holds."""

    id: UUID
    has_phone: bool
    has_bsuid: bool
    has_name: bool


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """Whether a message with the wamid exists, and whether the status moved it forward."""

    found: bool
    applied: bool


__all__ = ["OpenedConversation", "open_conversation", "set_last_message_seq"]


async def lock_wamid(conn: Conn, wamid: str) -> None:
    """Serialise work on one wamid until the transaction ends (message vs status races)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended((SELECT app.current_tenant_id())::text"
        " || '|' || $1, 0))",
        wamid,
    )


async def message_exists(conn: Conn, wamid: str) -> bool:
    """True if a message with this wamid is stored."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE wamid = $1)", wamid
    )
    return found


async def number_id_for(conn: Conn, phone_number_id: str) -> UUID | None:
    """The tenant's number row for Meta's phone_number_id."""
    number_id: UUID | None = await conn.fetchval(
        "SELECT id FROM whatsapp_numbers WHERE phone_number_id = $1", phone_number_id
    )
    return number_id


async def erased_at(conn: Conn, marker: bytes) -> datetime | None:
    """When a contact with this number marker was last erased for good (erased_identities,
    `contact_keys.erasure_marker`), or None."""
    moment: datetime | None = await conn.fetchval(
        "SELECT erased_at FROM erased_identities WHERE phone_marker = $1", marker
    )
    return moment


async def find_contact(
    conn: Conn, phone_bidx: bytes | None, bsuid_bidx: bytes | None
) -> ContactMatch | None:
    """A contact by phone or BSUID blind index; a phone match wins over a BSUID match."""
    row = await conn.fetchrow(
        "SELECT id, phone_bidx IS NOT NULL AS has_phone, bsuid_bidx IS NOT NULL AS has_bsuid,"
        " name_enc IS NOT NULL AS has_name FROM contacts"
        " WHERE phone_bidx = $1 OR bsuid_bidx = $2"
        " ORDER BY (phone_bidx = $1) DESC NULLS LAST LIMIT 1",
        phone_bidx,
        bsuid_bidx,
    )
    if row is None:
        return None
    return ContactMatch(row["id"], row["has_phone"], row["has_bsuid"], row["has_name"])


async def insert_contact(
    conn: Conn,
    tenant_id: UUID,
    contact_id: UUID,
    *,
    phone: tuple[bytes, bytes] | None,
    bsuid: tuple[bytes, bytes] | None,
    name_enc: bytes | None,
) -> bool:
    """Create a contact ((ciphertext, blind index) pairs); False if one with either index exists."""
    created = await conn.fetchval(
        "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, bsuid_enc, bsuid_bidx,"
        " name_enc) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
        tenant_id,
        contact_id,
        *(phone or (None, None)),
        *(bsuid or (None, None)),
        name_enc,
    )
    return created is not None


async def complete_contact(
    conn: Conn,
    contact_id: UUID,
    *,
    phone: tuple[bytes, bytes] | None,
    bsuid: tuple[bytes, bytes] | None,
    name_enc: bytes | None,
) -> None:
    """Fill identifiers and name a contact lacks; an identifier another contact holds is skipped."""
    phone_enc, phone_bidx = phone or (None, None)
    bsuid_enc, bsuid_bidx = bsuid or (None, None)
    # Two rows can exist for one person (seen first by BSUID only, later by phone only);
    # merging them is a person's decision, so an index already taken is left alone.
    await conn.execute(
        """
        UPDATE contacts AS c SET
          phone_enc = CASE WHEN take_phone THEN $2 ELSE c.phone_enc END,
          phone_bidx = CASE WHEN take_phone THEN $3 ELSE c.phone_bidx END,
          bsuid_enc = CASE WHEN take_bsuid THEN $4 ELSE c.bsuid_enc END,
          bsuid_bidx = CASE WHEN take_bsuid THEN $5 ELSE c.bsuid_bidx END,
          name_enc = COALESCE(c.name_enc, $6),
          updated_at = now()
        FROM (SELECT
                $3::bytea IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM contacts o WHERE o.phone_bidx = $3) AS take_phone,
                $5::bytea IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM contacts o WHERE o.bsuid_bidx = $5) AS take_bsuid
             ) AS free
        WHERE c.id = $1
        """,
        contact_id,
        phone_enc,
        phone_bidx,
        bsuid_enc,
        bsuid_bidx,
        name_enc,
    )


async def fill_name_index(conn: Conn, contact_id: UUID, name_bidx: bytes) -> None:
    """Give a contact the blind index of its name, unless it has one (search by name)."""
    await conn.execute(
        "UPDATE contacts SET name_bidx = $2 WHERE id = $1 AND name_bidx IS NULL",
        contact_id,
        name_bidx,
    )


async def insert_webhook_message(
    conn: Conn,
    tenant_id: UUID,
    message_id: UUID,
    conversation_id: UUID,
    *,
    wamid: str,
    message_type: str,
    body_enc: bytes,
    sent_at: datetime,
    echo: bool = False,
) -> int | None:
    """Store a message a webhook brought: the customer's (inbound, received) or, with `echo`,
    the business's from the WhatsApp Business app (outbound, sent). Its seq; None if the wamid
    is already stored (the real dedupe guard)."""
    direction, status, sender = (
        ("outbound", "sent", "business_app") if echo else ("inbound", "received", "customer")
    )
    seq: int | None = await conn.fetchval(
        "INSERT INTO messages (tenant_id, id, conversation_id, direction, wamid, type, body_enc,"
        " status, sender_kind, created_at) VALUES ($1, $2, $3, $8, $4, $5, $6, $9, $10, $7)"
        " ON CONFLICT (tenant_id, wamid) DO NOTHING RETURNING seq",
        tenant_id,
        message_id,
        conversation_id,
        wamid,
        message_type,
        body_enc,
        sent_at,
        direction,
        status,
        sender,
    )
    return seq


async def mark_coexistence(conn: Conn, number_id: UUID) -> bool:
    """Note that the number is shared with the WhatsApp Business app (Meta then holds it to
    20 messages per second: migration 0035); True the first time only."""
    status: str = await conn.execute(
        "UPDATE whatsapp_numbers SET coexistence_since = now()"
        " WHERE id = $1 AND coexistence_since IS NULL",
        number_id,
    )
    return status == "UPDATE 1"


async def insert_history_message(
    conn: Conn,
    tenant_id: UUID,
    message_id: UUID,
    conversation_id: UUID,
    *,
    wamid: str,
    outbound: bool,
    message_type: str,
    status: str,
    body_enc: bytes,
    at: datetime,
    seq: int,
    seq_limit: int,
) -> int | None:
    """Store a message of the WhatsApp Business app's history (inbox.history) under its own
    (negative) seq, or the next one free in the conversation up to `seq_limit` (the last of
    its second: pages are cut by seq, so two messages may not share one); None if the wamid
    is already stored.
    The caller holds the conversation's lock (`lock_contact_number`)."""
    stored: int | None = await conn.fetchval(
        "INSERT INTO messages (tenant_id, id, conversation_id, direction, wamid, type, body_enc,"
        " status, sender_kind, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10, CASE WHEN NOT EXISTS (SELECT 1 FROM messages WHERE tenant_id = $1"
        " AND conversation_id = $3 AND seq = $11) THEN $11 ELSE COALESCE((SELECT s"
        " FROM generate_series($11 + 1, $12) AS s WHERE NOT EXISTS (SELECT 1"
        " FROM messages WHERE tenant_id = $1 AND conversation_id = $3 AND seq = s) LIMIT 1),"
        " $11) END) ON CONFLICT (tenant_id, wamid) DO NOTHING RETURNING seq",
        tenant_id, message_id, conversation_id, "outbound" if outbound else "inbound", wamid,
        message_type, body_enc, status, "business_app" if outbound else "customer", at, seq,
        seq_limit,
    )  # fmt: skip
    return stored


async def complete_placeholder(
    conn: Conn, wamid: str, message_type: str, body_enc: bytes
) -> UUID | None:
    """Give a history media placeholder the content that followed it; its id, or None if the
    wamid is not a placeholder (any more)."""
    found: UUID | None = await conn.fetchval(
        "UPDATE messages SET type = $2, body_enc = $3, updated_at = now()"
        " WHERE wamid = $1 AND type = 'media_placeholder' RETURNING id",
        wamid,
        message_type,
        body_enc,
    )
    return found


async def insert_history_conversation(
    conn: Conn,
    tenant_id: UUID,
    conversation_id: UUID,
    contact_id: UUID,
    number_id: UUID,
    last_at: datetime,
) -> None:
    """A resolved conversation for history of a customer who has none on the number."""
    await conn.execute(
        "INSERT INTO conversations (tenant_id, id, contact_id, number_id, status, controller,"
        " last_message_at, resolved_at, unread_count) VALUES ($1, $2, $3, $4, 'resolved',"
        " 'human', $5, $5, 0)",
        tenant_id,
        conversation_id,
        contact_id,
        number_id,
        last_at,
    )


async def stored_types(conn: Conn, wamids: list[str]) -> dict[str, str]:
    """The type of each of these wamids that is stored already."""
    rows = await conn.fetch(
        "SELECT wamid, type FROM messages WHERE wamid = ANY($1::text[])", wamids
    )
    return {row["wamid"]: row["type"] for row in rows}


async def delete_conversation(conn: Conn, conversation_id: UUID) -> None:
    """Delete a conversation this transaction created and did not use."""
    await conn.execute("DELETE FROM conversations WHERE id = $1", conversation_id)


async def apply_status(
    conn: Conn, wamid: str, status: str, error_code: int | None, error_title: str | None
) -> StatusOutcome:
    """Move an outbound message's status forward only (see inbox.statuses for the rules)."""
    row = await conn.fetchrow(
        """
        WITH target AS (
          SELECT id, status FROM messages
          WHERE wamid = $1 AND direction = 'outbound' FOR UPDATE
        ), changed AS (
          UPDATE messages AS m SET
            status = $2::text,
            error_code = CASE WHEN $2::text = 'failed' THEN $3::integer ELSE m.error_code END,
            error_title = CASE WHEN $2::text = 'failed' THEN $4::text ELSE m.error_title END,
            updated_at = now()
          FROM target AS t
          WHERE m.id = t.id AND (
            ($2::text = 'failed' AND t.status IN ('queued', 'sent'))
            OR ($2::text = 'read' AND t.status = 'failed')
            OR ($2::text <> 'failed' AND t.status <> 'failed'
                AND array_position(ARRAY['queued', 'sent', 'delivered', 'read'], t.status)
                  < array_position(ARRAY['queued', 'sent', 'delivered', 'read'], $2::text)))
          RETURNING m.id
        )
        SELECT EXISTS (SELECT 1 FROM target) AS found, EXISTS (SELECT 1 FROM changed) AS applied
        """,
        wamid,
        status,
        error_code,
        error_title,
    )
    if row is None:  # unreachable: a SELECT without FROM yields exactly one row
        return StatusOutcome(found=False, applied=False)
    return StatusOutcome(row["found"], row["applied"])


@dataclass(frozen=True, slots=True)
class PendingStatus:
    """A status kept until its outbound message is known."""

    status: str
    status_at: datetime | None
    error_code: int | None
    error_title: str | None


async def add_pending_status(
    conn: Conn, tenant_id: UUID, pending_id: UUID, wamid: str, pending: PendingStatus
) -> None:
    """Keep a status for a wamid no message has yet; a redelivered one is stored once."""
    await conn.execute(
        "INSERT INTO pending_statuses (tenant_id, id, wamid, status, status_at, error_code,"
        " error_title) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        tenant_id,
        pending_id,
        wamid,
        pending.status,
        pending.status_at,
        pending.error_code,
        pending.error_title,
    )


async def take_pending_statuses(conn: Conn, wamid: str) -> list[PendingStatus]:
    """Remove and return the statuses kept for a wamid."""
    rows = await conn.fetch(
        "DELETE FROM pending_statuses WHERE wamid = $1"
        " RETURNING status, status_at, error_code, error_title",
        wamid,
    )
    return [
        PendingStatus(r["status"], r["status_at"], r["error_code"], r["error_title"]) for r in rows
    ]


async def purge_stale_pending_statuses(conn: Conn, older_than: timedelta) -> int:
    """Forget kept statuses whose message never appeared (sent outside the platform)."""
    status = await conn.execute(
        "DELETE FROM pending_statuses WHERE received_at < now() - $1::interval", older_than
    )
    return int(status.rsplit(" ", 1)[-1])


async def apply_pending_statuses(conn: Conn, wamid: str) -> int:
    """Apply the statuses that arrived before the outbound message got its wamid.

    Call in the transaction that gives an outbound message its wamid. Composed of single
    statements: the wamid lock first, so a status being stored concurrently is either seen
    here or finds the message itself. Returns how many statuses moved the message forward.
    """
    await lock_wamid(conn, wamid)
    pending = await take_pending_statuses(conn, wamid)
    applied = 0
    # Meta's time order; the monotonic rules of apply_status settle any remaining conflict.
    for item in sorted(pending, key=_pending_order):
        outcome = await apply_status(conn, wamid, item.status, item.error_code, item.error_title)
        applied += outcome.applied
    return applied


_RANK = {"sent": 1, "failed": 2, "delivered": 3, "read": 4}


def _pending_order(item: PendingStatus) -> tuple[float, int]:
    return (item.status_at.timestamp() if item.status_at else 0.0, _RANK.get(item.status, 0))
