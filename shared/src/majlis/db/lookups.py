"""Lookups that run before a tenant is known, through narrow SECURITY DEFINER functions.

Each returns ids only. Nothing else in the platform reads across tenants.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def tenant_for_phone_number_id(pool: asyncpg.Pool[Any], phone_number_id: str) -> UUID | None:
    """The tenant that owns an active WhatsApp number, by Meta's phone_number_id."""
    value: UUID | None = await pool.fetchval(
        "SELECT tenant_id FROM app.tenant_for_phone_number_id($1)", phone_number_id
    )
    return value


async def tenant_for_waba_id(pool: asyncpg.Pool[Any], waba_id: str) -> UUID | None:
    """The tenant that owns a WhatsApp Business Account, by WABA id."""
    value: UUID | None = await pool.fetchval(
        "SELECT tenant_id FROM app.tenant_for_waba_id($1)", waba_id
    )
    return value


async def user_for_login(pool: asyncpg.Pool[Any], email: str) -> tuple[UUID, UUID] | None:
    """(tenant_id, user_id) for a sign-in address, or None."""
    row = await pool.fetchrow("SELECT tenant_id, user_id FROM app.user_for_login($1)", email)
    return None if row is None else (row["tenant_id"], row["user_id"])


async def claim_login_email(conn: asyncpg.Connection[Any], email: str, user_id: UUID) -> bool:
    """Reserve a sign-in address for a user of the transaction's tenant; False if taken."""
    claimed: bool = await conn.fetchval("SELECT app.claim_login_email($1, $2)", email, user_id)
    return claimed


async def all_tenant_ids(pool: asyncpg.Pool[Any]) -> list[UUID]:
    """Every tenant id, for platform jobs that then work tenant by tenant."""
    rows = await pool.fetch("SELECT tenant_id FROM app.all_tenant_ids()")
    return [r["tenant_id"] for r in rows]
