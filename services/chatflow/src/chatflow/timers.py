"""Durable timers: wait nodes and question timeouts fire from flow_sessions.wake_at.

A loop asks `app.due_flow_sessions` (ids only, before any tenant is known) and continues each
due session inside its tenant's transaction; the conversation lock and the re-check of
wake_at make a timer fire once even with several replicas. Nothing lives in memory: after a
restart the next poll finds what came due meanwhile. The same loop purges old node logs.
A session awaiting an external call has its attempt's lease in wake_at: when it expires (the
process making the call died), the call is made again under a new attempt id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web

from chatflow import sessions_repository as repo
from chatflow.conversation_runs import drive, on_timer
from chatflow.deps import ENGINE
from chatflow.engine import EngineDeps
from chatflow.external import Pending
from majlis.db import tenant_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import DB_POOL
from majlis.logging import get_logger

log = get_logger(__name__)
BATCH = 100
PURGE_EVERY_S = 3600.0


async def fire_due(pool: asyncpg.Pool[Any], deps: EngineDeps) -> int:
    """Continue every session whose timer is due; how many were looked at."""
    async with pool.acquire() as conn:
        due = await repo.due_sessions(conn, BATCH)
    calls: list[Pending] = []
    for row in due:
        try:
            async with tenant_transaction(pool, row["tenant_id"]) as conn:
                pending = await on_timer(conn, row["tenant_id"], deps, row["session_id"])
            if pending is not None:
                calls.append(pending)
        except Exception:
            log.exception("chatflow.timer_failed", session_id=str(row["session_id"]))
    # The calls the runs reached, after their commits and side by side: one slow endpoint
    # does not hold back the other sessions of the batch.
    await asyncio.gather(*(drive(pool, deps, pending) for pending in calls))
    return len(due)


async def purge_logs(pool: asyncpg.Pool[Any], deps: EngineDeps, retention_days: int) -> int:
    """Delete node logs older than the retention, tenant by tenant; rows deleted."""
    before = deps.clock() - timedelta(days=retention_days)
    async with pool.acquire() as conn:
        tenants = await conn.fetch(
            "SELECT tenant_id FROM app.tenants_with_flow_logs_before($1)", before
        )
    deleted = 0
    for row in tenants:
        async with tenant_transaction(pool, row["tenant_id"]) as conn:
            status = await conn.execute("DELETE FROM flow_logs WHERE created_at < $1", before)
            deleted += int(status.split()[-1])
    return deleted


async def timers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Poll for due timers (and purge old logs) while the service runs."""
    settings = app[SETTINGS]
    interval = settings.chatflow_timer_interval_ms / 1000

    async def loop() -> None:
        since_purge = PURGE_EVERY_S
        while True:
            try:
                await fire_due(app[DB_POOL], app[ENGINE])
                since_purge += interval
                if since_purge >= PURGE_EVERY_S:
                    since_purge = 0.0
                    await purge_logs(
                        app[DB_POOL], app[ENGINE], settings.chatflow_log_retention_days
                    )
            except Exception:
                log.exception("chatflow.timer_poll_failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="chatflow-timers")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
