"""tenant_transaction(): the one way to run tenant-scoped SQL.

It opens a transaction and sets ``app.tenant_id``, ``app.user_role`` and ``app.user_id`` with
``set_config(..., true)``: transaction-local, so a connection returned to the pool carries no
tenant. The policies in the database key on these settings; a query made without them raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, cast
from uuid import UUID

import asyncpg

DbRole = Literal["owner", "admin", "agent", "viewer", "system"]
_ROLES: frozenset[str] = frozenset({"owner", "admin", "agent", "viewer", "system"})

_SET_CONTEXT = """
SELECT set_config('app.tenant_id', $1, true),
       set_config('app.user_role', $2, true),
       set_config('app.user_id', $3, true)
"""


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool[Any],
    tenant_id: UUID,
    role: DbRole = "system",
    *,
    user_id: UUID | None = None,
    readonly: bool = False,
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """Run a transaction as tenant ``tenant_id`` acting in ``role`` (a user's role or "system")."""
    if not isinstance(tenant_id, UUID):
        raise TypeError("tenant_id must be a UUID")
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r}")
    async with pool.acquire() as conn, conn.transaction(readonly=readonly):
        await conn.execute(_SET_CONTEXT, str(tenant_id), role, str(user_id) if user_id else "")
        # The pool hands out a proxy that behaves as a Connection for every call we make.
        yield cast("asyncpg.Connection[Any]", conn)
