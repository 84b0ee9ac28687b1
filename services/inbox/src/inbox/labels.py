"""Labels of a tenant ("vip", "refund"): SQL and the shape they are answered in.

Names are unique per tenant regardless of case (the unique index on lower(name)); colours are
kept as lower-case `#rrggbb`.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import asyncpg

from inbox.repository import Conn

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#6b7280"
MAX_LABELS = 500  # per tenant; the list answers them all in one page


class DuplicateLabel(Exception):
    """Another label of the tenant has this name (case-insensitive)."""


def label_json(row: Any) -> dict[str, Any]:
    """A label as the API answers it."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "color": row["color"],
        "created_at": row["created_at"].isoformat(),
    }


async def list_labels(conn: Conn) -> list[Any]:
    """Every label of the tenant, by name."""
    return list(
        await conn.fetch(
            "SELECT id, name, color, created_at FROM labels ORDER BY lower(name), id LIMIT $1",
            MAX_LABELS,
        )
    )


async def label_count(conn: Conn) -> int:
    """How many labels the tenant has."""
    count: int = await conn.fetchval("SELECT count(*) FROM labels")
    return count


async def create_label(conn: Conn, tenant_id: UUID, label_id: UUID, name: str, color: str) -> Any:
    """Insert a label; DuplicateLabel if the name is taken."""
    row = await conn.fetchrow(
        "INSERT INTO labels (tenant_id, id, name, color) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING id, name, color, created_at",
        tenant_id,
        label_id,
        name,
        color,
    )
    if row is None:
        raise DuplicateLabel
    return row


async def update_label(
    conn: Conn, label_id: UUID, name: str | None, color: str | None
) -> Any | None:
    """Rename and/or recolour a label; None if not found, DuplicateLabel if the name is taken."""
    try:
        return await conn.fetchrow(
            "UPDATE labels SET name = coalesce($2, name), color = coalesce($3, color)"
            " WHERE id = $1 RETURNING id, name, color, created_at",
            label_id,
            name,
            color,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateLabel from None


async def delete_label(conn: Conn, label_id: UUID) -> bool:
    """Delete a label (and its use on conversations); False if not found."""
    deleted = await conn.fetchval("DELETE FROM labels WHERE id = $1 RETURNING id", label_id)
    return deleted is not None


async def existing_label_ids(conn: Conn, label_ids: list[UUID]) -> set[UUID]:
    """Which of `label_ids` are labels of the tenant."""
    rows = await conn.fetch("SELECT id FROM labels WHERE id = ANY ($1::uuid[])", label_ids)
    return {r["id"] for r in rows}
