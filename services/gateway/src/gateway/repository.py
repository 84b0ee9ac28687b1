"""Gateway SQL: one statement per function, connection first, rows mapped at the boundary.

Every function runs on a connection from ``tenant_transaction``; RLS confines it to one tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from majlis.http.tokens import Role

Conn: TypeAlias = "asyncpg.Connection[Any]"


@dataclass(frozen=True, slots=True)
class UserRow:
    id: UUID
    tenant_id: UUID
    email: str
    name: str
    role: Role
    is_active: bool
    password_hash: str | None
    created_at: datetime
    two_factor_enabled_at: datetime | None


def _user(row: asyncpg.Record) -> UserRow:
    return UserRow(
        row["id"],
        row["tenant_id"],
        row["email"],
        row["name"],
        row["role"],
        row["is_active"],
        row["password_hash"],
        row["created_at"],
        row["two_factor_enabled_at"],
    )


async def insert_tenant(conn: Conn, tenant_id: UUID, name: str) -> None:
    """A new business on the starter plan."""
    await conn.execute(
        "INSERT INTO tenants (id, name, plan) VALUES ($1, $2, 'starter')", tenant_id, name
    )


async def get_tenant(conn: Conn, tenant_id: UUID) -> asyncpg.Record | None:
    """The tenant row (id, name, plan)."""
    return await conn.fetchrow(
        "SELECT id, name, plan, is_active, created_at FROM tenants WHERE id = $1", tenant_id
    )


async def insert_user(
    conn: Conn,
    *,
    tenant_id: UUID,
    user_id: UUID,
    email: str,
    name: str,
    role: str,
    password_hash: str,
) -> None:
    """A new user of the transaction's tenant."""
    await conn.execute(
        "INSERT INTO users (tenant_id, id, email, name, role, password_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        user_id,
        email,
        name,
        role,
        password_hash,
    )


async def get_user(conn: Conn, user_id: UUID) -> UserRow | None:
    """One user of the tenant, or None (also for another tenant's id)."""
    row = await conn.fetchrow(
        "SELECT id, tenant_id, email, name, role, is_active, password_hash, created_at,"
        " two_factor_enabled_at"
        " FROM users WHERE id = $1",
        user_id,
    )
    return _user(row) if row else None


async def get_user_for_update(conn: Conn, user_id: UUID) -> UserRow | None:
    """One user, locked for the rest of the transaction."""
    row = await conn.fetchrow(
        "SELECT id, tenant_id, email, name, role, is_active, password_hash, created_at,"
        " two_factor_enabled_at"
        " FROM users WHERE id = $1 FOR UPDATE",
        user_id,
    )
    return _user(row) if row else None


async def tenant_requires_two_factor(conn: Conn, tenant_id: UUID) -> bool:
    """Whether the business requires two-factor sign-in of everyone."""
    return bool(
        await conn.fetchval("SELECT require_two_factor FROM tenants WHERE id = $1", tenant_id)
    )


async def two_factor_setup_due(conn: Conn, user_id: UUID) -> bool:
    """The user's business requires two-factor sign-in and the user has not set it up: their
    tokens may only do that (AccessClaims.setup_only)."""
    due = await conn.fetchval(
        "SELECT t.require_two_factor AND u.two_factor_enabled_at IS NULL"
        " FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
        user_id,
    )
    return bool(due)


async def list_users(conn: Conn) -> list[UserRow]:
    """Every user of the tenant, oldest first."""
    rows = await conn.fetch(
        "SELECT id, tenant_id, email, name, role, is_active, password_hash, created_at,"
        " two_factor_enabled_at"
        " FROM users ORDER BY created_at, id"
    )
    return [_user(r) for r in rows]


async def count_active_owners(conn: Conn) -> int:
    """Active owners of the tenant (the last one may not leave)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM users WHERE role = 'owner' AND is_active"
    )
    return count


async def set_password_hash(conn: Conn, user_id: UUID, password_hash: str) -> None:
    """Store a new hash (password change or parameter upgrade)."""
    await conn.execute(
        "UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now()"
        " WHERE id = $1",
        user_id,
        password_hash,
    )


async def upgrade_password_hash(conn: Conn, user_id: UUID, old: str, new: str) -> None:
    """Replace a hash made with old parameters, only if nobody changed it meanwhile."""
    await conn.execute(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
        user_id,
        old,
        new,
    )


async def set_role(conn: Conn, user_id: UUID, role: str) -> None:
    """Change a user's role."""
    await conn.execute(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1", user_id, role
    )


async def deactivate_user(conn: Conn, user_id: UUID) -> None:
    """A deactivated user cannot sign in; their sessions are revoked separately."""
    await conn.execute(
        "UPDATE users SET is_active = false, updated_at = now() WHERE id = $1", user_id
    )
