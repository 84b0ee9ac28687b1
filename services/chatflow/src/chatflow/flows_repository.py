"""SQL of flows and their versions: plain async functions, connection first, `$n` params.

Every function runs inside a tenant transaction; row-level security scopes each statement.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

Conn = Any
_FLOW = (
    "id, name, number_id, priority, triggers, document, published_version_id, created_at,"
    " updated_at"
)


async def insert_flow(
    conn: Conn,
    tenant_id: UUID,
    flow_id: UUID,
    name: str,
    number_id: UUID | None,
    priority: int,
    triggers: list[Any],
    document: Any,
) -> Any:
    """Store a new flow (a draft)."""
    return await conn.fetchrow(
        "INSERT INTO flows (tenant_id, id, name, number_id, priority, triggers, document)"  # noqa: S608  (fixed text; values are $n parameters)
        f" VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb) RETURNING {_FLOW}",
        tenant_id, flow_id, name, number_id, priority, triggers, document,
    )  # fmt: skip


async def number_exists(conn: Conn, number_id: UUID) -> bool:
    """True for a number of the tenant."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM whatsapp_numbers WHERE id = $1)", number_id
    )
    return found


async def flow(conn: Conn, flow_id: UUID, *, lock: bool = False) -> Any | None:
    """One flow; locked for update on request."""
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT {_FLOW} FROM flows WHERE id = $1{suffix}",  # noqa: S608  (fixed text)
        flow_id,
    )


async def flows_page(conn: Conn, before: tuple[Any, UUID] | None, limit: int) -> list[Any]:
    """Flows newest first, after a keyset cursor."""
    if before is None:
        sql = f"SELECT {_FLOW} FROM flows ORDER BY created_at DESC, id DESC LIMIT $1"  # noqa: S608
        return list(await conn.fetch(sql, limit))
    return list(
        await conn.fetch(
            f"SELECT {_FLOW} FROM flows WHERE (created_at, id) < ($1, $2)"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            before[0], before[1], limit,
        )
    )  # fmt: skip


async def update_flow(
    conn: Conn,
    flow_id: UUID,
    name: str,
    number_id: UUID | None,
    priority: int,
    triggers: list[Any],
    document: Any,
) -> Any | None:
    """Replace a flow's draft and settings."""
    return await conn.fetchrow(
        "UPDATE flows SET name = $2, number_id = $3, priority = $4, triggers = $5::jsonb,"  # noqa: S608  (fixed text; values are $n parameters)
        " document = $6::jsonb, updated_at = now()"
        f" WHERE id = $1 RETURNING {_FLOW}",
        flow_id, name, number_id, priority, triggers, document,
    )  # fmt: skip


async def delete_flow(conn: Conn, flow_id: UUID) -> bool:
    """Delete a flow with its versions, sessions and logs."""
    deleted = await conn.fetchval("DELETE FROM flows WHERE id = $1 RETURNING 1", flow_id)
    return deleted is not None


async def publish(
    conn: Conn, tenant_id: UUID, flow_id: UUID, version_id: UUID, user_id: UUID | None
) -> Any:
    """Snapshot the draft as the next version and make it the published one."""
    row = await conn.fetchrow(
        "INSERT INTO flow_versions (tenant_id, id, flow_id, version, document, published_by)"
        " SELECT $1, $2, f.id,"
        "  COALESCE((SELECT max(version) FROM flow_versions WHERE flow_id = f.id), 0) + 1,"
        "  f.document, $4 FROM flows f WHERE f.id = $3"
        " RETURNING id, version, created_at",
        tenant_id, version_id, flow_id, user_id,
    )  # fmt: skip
    await conn.execute(
        "UPDATE flows SET published_version_id = $2, updated_at = now() WHERE id = $1",
        flow_id,
        version_id,
    )
    return row


async def versions(conn: Conn, flow_id: UUID) -> list[Any]:
    """A flow's versions, newest first."""
    return list(
        await conn.fetch(
            "SELECT id, version, document, published_by, created_at FROM flow_versions"
            " WHERE flow_id = $1 ORDER BY version DESC LIMIT 200",
            flow_id,
        )
    )


async def published_candidates(conn: Conn, number_id: UUID) -> list[Any]:
    """Published flows for a number (or all numbers), highest priority first, then oldest."""
    return list(
        await conn.fetch(
            "SELECT id, published_version_id, triggers FROM flows"
            " WHERE published_version_id IS NOT NULL AND (number_id IS NULL OR number_id = $1)"
            " ORDER BY priority DESC, created_at, id LIMIT 500",
            number_id,
        )
    )


async def version_document(conn: Conn, version_id: UUID) -> Any | None:
    """The document of a published version."""
    return await conn.fetchval("SELECT document FROM flow_versions WHERE id = $1", version_id)
