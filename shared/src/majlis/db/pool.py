"""Connection pools. Services get a pool here and use it only through tenant_transaction()."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _on_release(conn: asyncpg.Connection[Any]) -> None:
    """Nothing more on release: the pool has already rolled back any open transaction, and
    the session reset asyncpg would send here (its own round trip, a third of a short
    transaction's cost) leads the next tenant transaction's opening statement instead
    (`majlis.db.transactions`). No code of ours keeps session state (no session-level SET,
    LISTEN, cursor or advisory lock); work outside tenant transactions calls only the
    database's own definer functions."""


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    command_timeout: float = 10.0,
    application_name: str = "majlis",
) -> asyncpg.Pool[Any]:
    """Open a pool. Tenant context is never set per session, only per transaction."""
    pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        reset=_on_release,
        server_settings={
            "application_name": application_name,
            # Services run short indexed queries: starting parallel workers costs more
            # (tens of ms) than it saves, and the planner's tenant-blind estimates invite it.
            "max_parallel_workers_per_gather": "0",
        },
    )
    return pool


async def connect(dsn: str) -> asyncpg.Connection[Any]:
    """A single connection for set-up tools (migrations, role creation), never for services."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn
