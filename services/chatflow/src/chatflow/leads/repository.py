"""SQL of leads. Plain async functions, connection first, one statement each, `$n` parameters;
every function runs inside a tenant transaction (RLS scopes each statement to its tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Conn: TypeAlias = "asyncpg.Connection[Any]"
Row = asyncpg.Record
_COLUMNS = "id, contact_id, conversation_id, stage, source, data_enc, created_at, updated_at"


async def insert(
    conn: Conn, lead_id: UUID, contact_id: UUID, conversation_id: UUID | None, source: str,
    data_enc: bytes,
) -> Row | None:  # fmt: skip
    """A new lead for the contact; None if the contact already has one."""
    return await conn.fetchrow(
        "INSERT INTO leads (tenant_id, id, contact_id, conversation_id, source, data_enc)"  # noqa: S608
        " VALUES ((SELECT app.current_tenant_id()), $1, $2, $3, $4, $5)"
        f" ON CONFLICT (tenant_id, contact_id) DO NOTHING RETURNING {_COLUMNS}",
        lead_id, contact_id, conversation_id, source, data_enc,
    )  # fmt: skip


async def by_contact(conn: Conn, contact_id: UUID) -> Row | None:
    """The contact's lead, locked for an update."""
    sql = f"SELECT {_COLUMNS} FROM leads WHERE contact_id = $1 FOR UPDATE"  # noqa: S608
    return await conn.fetchrow(sql, contact_id)


async def get(conn: Conn, lead_id: UUID, *, for_update: bool = False) -> Row | None:
    """One lead of the tenant."""
    lock = " FOR UPDATE" if for_update else ""
    sql = f"SELECT {_COLUMNS} FROM leads WHERE id = $1{lock}"  # noqa: S608  (constants)
    return await conn.fetchrow(sql, lead_id)


async def update(
    conn: Conn, lead_id: UUID, stage: str, conversation_id: UUID | None, data_enc: bytes
) -> Row:
    """Write a lead's stage, latest conversation and data."""
    row: Row | None = await conn.fetchrow(
        "UPDATE leads SET stage = $2, conversation_id = $3, data_enc = $4,"  # noqa: S608
        f" updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        lead_id, stage, conversation_id, data_enc,
    )  # fmt: skip
    assert row is not None
    return row


async def page(
    conn: Conn,
    *,
    stage: str | None,
    source: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Row]:
    """Newest first, keyset after (created_at, id); optional stage and source filters."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM leads"  # noqa: S608  (a constant column list)
        " WHERE ($1::text IS NULL OR stage = $1) AND ($2::text IS NULL OR source = $2)"
        " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $5",
        stage, source, after[0] if after else None, after[1] if after else None, limit,
    )  # fmt: skip
