"""SQL of message templates and the numbers (WABAs) they belong to.

Plain async functions, connection first, one statement each, `$n` parameters. Every function
runs inside a tenant transaction: RLS keeps another tenant's rows invisible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Conn: TypeAlias = "asyncpg.Connection[Any]"
Row = asyncpg.Record

_COLUMNS = (
    "id, number_id, waba_id, name, language, category, content_enc, meta_template_id,"
    " status, reason, status_entry_time, created_at, updated_at"
)


async def number_by_id(conn: Conn, number_id: UUID) -> Row | None:
    """The tenant's number: its WABA and encrypted token."""
    return await conn.fetchrow(
        "SELECT id, waba_id, access_token_enc FROM whatsapp_numbers WHERE id = $1", number_id
    )


async def number_by_waba(conn: Conn, waba_id: str) -> Row | None:
    """One active number of the tenant's WABA (any works for template management)."""
    return await conn.fetchrow(
        "SELECT id, waba_id, access_token_enc FROM whatsapp_numbers WHERE waba_id = $1"
        " ORDER BY status = 'active' DESC, created_at LIMIT 1",
        waba_id,
    )


async def insert(
    conn: Conn,
    template_id: UUID,
    number_id: UUID,
    waba_id: str,
    name: str,
    language: str,
    category: str,
    content_enc: bytes,
) -> Row | None:
    """A new template (PENDING, not yet at Meta); None if the name and language are taken."""
    return await conn.fetchrow(
        "INSERT INTO templates (tenant_id, id, number_id, waba_id, name, language, category,"  # noqa: S608
        " content_enc) VALUES ((SELECT app.current_tenant_id()), $1, $2, $3, $4, $5, $6, $7)"
        f" ON CONFLICT (tenant_id, waba_id, name, language) DO NOTHING RETURNING {_COLUMNS}",
        template_id, number_id, waba_id, name, language, category, content_enc,
    )  # fmt: skip


async def set_submitted(conn: Conn, template_id: UUID, meta_id: str, status: str) -> Row | None:
    """Record Meta's id and first status; a webhook applied meanwhile keeps its status."""
    return await conn.fetchrow(
        "UPDATE templates SET meta_template_id = $2,"  # noqa: S608  (constant columns)
        " status = CASE WHEN status_entry_time IS NULL THEN $3 ELSE status END,"
        f" updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        template_id, meta_id, status,
    )  # fmt: skip


async def get(conn: Conn, template_id: UUID, *, for_update: bool = False) -> Row | None:
    """One template of the tenant."""
    lock = " FOR UPDATE" if for_update else ""
    sql = f"SELECT {_COLUMNS} FROM templates WHERE id = $1{lock}"  # noqa: S608  (constants)
    return await conn.fetchrow(sql, template_id)


async def delete(conn: Conn, template_id: UUID) -> bool:
    """Delete one template; False if it was not there."""
    gone = await conn.fetchval("DELETE FROM templates WHERE id = $1 RETURNING 1", template_id)
    return gone is not None


async def delete_name(conn: Conn, waba_id: str, name: str) -> list[UUID]:
    """Delete every language of a name in a WABA (Meta deletes them together)."""
    rows = await conn.fetch(
        "DELETE FROM templates WHERE waba_id = $1 AND name = $2 RETURNING id", waba_id, name
    )
    return [row["id"] for row in rows]


async def page(
    conn: Conn,
    *,
    status: str | None,
    name: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Row]:
    """Newest first, keyset after (created_at, id); optional status and exact-name filters."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM templates"  # noqa: S608  (a constant column list)
        " WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR name = $2)"
        " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $5",
        status, name, after[0] if after else None, after[1] if after else None, limit,
    )  # fmt: skip


async def for_webhook(
    conn: Conn, waba_id: str, name: str, language: str, meta_id: str | None
) -> Row | None:
    """The template a status webhook is about, locked; Meta's id must match once known."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM templates"  # noqa: S608  (a constant column list)
        " WHERE waba_id = $1 AND name = $2 AND language = $3"
        " AND ($4::text IS NULL OR meta_template_id IS NULL OR meta_template_id = $4)"
        " FOR UPDATE",
        waba_id, name, language, meta_id,
    )  # fmt: skip


async def apply_status(
    conn: Conn, template_id: UUID, status: str, reason: str | None, entry_time: int
) -> None:
    """Set the status reported by a webhook of `entry_time`."""
    await conn.execute(
        "UPDATE templates SET status = $2, reason = $3, status_entry_time = $4,"
        " updated_at = now() WHERE id = $1",
        template_id, status, reason, entry_time,
    )  # fmt: skip
