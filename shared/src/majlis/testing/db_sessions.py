"""Tenant transactions on chosen database sessions, for tests of what concurrent
transactions do to each other (the counters kept in per-session slots, migration 0037)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from majlis.db import tenant_transaction

SLOT_OF_SESSION = "pg_backend_pid() % 16"


@contextlib.asynccontextmanager
async def session_where(pool: Any, tenant_id: UUID, condition: str) -> AsyncIterator[Any]:
    """An open tenant transaction on a session of `pool` for which `condition` (SQL) holds."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(pool.get_max_size()):
            conn = await stack.enter_async_context(tenant_transaction(pool, tenant_id))
            if await conn.fetchval(f"SELECT {condition}"):
                yield conn
                return
    raise AssertionError("no session of the pool meets the condition")


@contextlib.asynccontextmanager
async def sessions_on_two_slots(pool: Any, tenant_id: UUID) -> AsyncIterator[tuple[Any, Any]]:
    """Two open tenant transactions on sessions whose counter slots differ."""
    async with contextlib.AsyncExitStack() as stack:
        by_slot: dict[int, Any] = {}
        for _ in range(pool.get_max_size()):
            conn = await stack.enter_async_context(tenant_transaction(pool, tenant_id))
            by_slot.setdefault(await conn.fetchval(f"SELECT {SLOT_OF_SESSION}"), conn)
            if len(by_slot) == 2:
                first, second = by_slot.values()
                yield first, second
                return
    raise AssertionError("the pool's sessions all count in one slot")
