"""SQL of canned responses and of what their variables read. Connection first, `$n` params.

Visibility is the tenant's ones plus the caller's own personal ones: `$viewer` is the caller's
user id (None for an API key, which owns no personal responses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from inbox.repository import Conn

_COLUMNS = "id, owner_user_id, shortcut, content, created_at, updated_at"
_VISIBLE = "(owner_user_id IS NULL OR owner_user_id = $1::uuid)"


@dataclass(frozen=True, slots=True)
class Canned:
    """A canned response: tenant-wide (owner None) or one user's own."""

    id: UUID
    owner_user_id: UUID | None
    shortcut: str
    content: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RenderContext:
    """The encrypted contact fields, the caller's name and the business name."""

    phone_enc: bytes | None
    name_enc: bytes | None
    email_enc: bytes | None
    agent_name: str | None
    business_name: str | None


def _canned(row: Any) -> Canned:
    return Canned(*row.values())


async def list_visible(
    conn: Conn, viewer: UUID | None, prefix: str | None, after: tuple[str, UUID] | None, limit: int
) -> list[Canned]:
    """Visible responses by shortcut then id, after a keyset cursor, optionally by prefix."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM canned_responses WHERE {_VISIBLE}"  # noqa: S608  (constants)
        " AND ($2::text IS NULL OR starts_with(shortcut, $2))"
        " AND ($3::text IS NULL OR (shortcut, id) > ($3, $4::uuid))"
        " ORDER BY shortcut, id LIMIT $5",
        viewer,
        prefix,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_canned(r) for r in rows]


async def get_visible(conn: Conn, viewer: UUID | None, canned_id: UUID) -> Canned | None:
    """One visible response."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM canned_responses WHERE {_VISIBLE} AND id = $2",  # noqa: S608
        viewer,
        canned_id,
    )
    return _canned(row) if row is not None else None


async def lock_visible(conn: Conn, viewer: UUID | None, canned_id: UUID) -> Canned | None:
    """One visible response, locked for a change."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM canned_responses WHERE {_VISIBLE} AND id = $2"  # noqa: S608
        " FOR UPDATE",
        viewer,
        canned_id,
    )
    return _canned(row) if row is not None else None


async def insert(
    conn: Conn, tenant_id: UUID, canned_id: UUID, owner: UUID | None, shortcut: str, content: str
) -> Canned | None:
    """Create a response; None if its scope already has this shortcut."""
    row = await conn.fetchrow(
        "INSERT INTO canned_responses (tenant_id, id, owner_user_id, shortcut, content)"  # noqa: S608
        " SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM canned_responses"
        "   WHERE shortcut = $4 AND owner_user_id IS NOT DISTINCT FROM $3)"
        f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        tenant_id,
        canned_id,
        owner,
        shortcut,
        content,
    )
    return _canned(row) if row is not None else None


async def shortcut_taken(conn: Conn, owner: UUID | None, shortcut: str, but: UUID) -> bool:
    """True if another response of the same scope has this shortcut."""
    taken: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM canned_responses WHERE shortcut = $2"
        " AND owner_user_id IS NOT DISTINCT FROM $1 AND id <> $3)",
        owner,
        shortcut,
        but,
    )
    return taken


async def update(conn: Conn, canned_id: UUID, shortcut: str, content: str) -> Canned:
    """Change a response's shortcut and content."""
    row = await conn.fetchrow(
        "UPDATE canned_responses SET shortcut = $2, content = $3, updated_at = now()"  # noqa: S608
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        canned_id,
        shortcut,
        content,
    )
    return _canned(row)


async def delete(conn: Conn, canned_id: UUID) -> None:
    """Delete a response."""
    await conn.execute("DELETE FROM canned_responses WHERE id = $1", canned_id)


async def render_context(
    conn: Conn, conversation_id: UUID, agent_id: UUID | None
) -> RenderContext | None:
    """What the variables of a response read for this conversation; None if it is unknown."""
    row = await conn.fetchrow(
        """
        SELECT ct.phone_enc, ct.name_enc, ct.email_enc,
               (SELECT u.name FROM users AS u WHERE u.id = $2::uuid) AS agent_name,
               (SELECT t.name FROM tenants AS t WHERE t.id = c.tenant_id) AS business_name
        FROM conversations AS c JOIN contacts AS ct ON ct.id = c.contact_id
        WHERE c.id = $1
        """,
        conversation_id,
        agent_id,
    )
    return RenderContext(*row.values()) if row is not None else None
