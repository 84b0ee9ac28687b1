"""Timed snoozes wake up: a background task of the inbox opens conversations that are due.

The job knows no tenant, so it asks `app.due_snoozes` (a SECURITY DEFINER lookup of 0006
returning ids only) which conversations are due, then wakes each in a transaction of its own
tenant. Several inbox replicas may run it at once: the wake-up is a conditional UPDATE, so a
conversation is woken (and its event queued) exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from inbox import conversations_repository as repo
from inbox.conversations import updated_event
from inbox.web import emit
from majlis.db import tenant_transaction
from majlis.http.resources import DB_POOL
from majlis.logging import get_logger

log = get_logger(__name__)

WAKE_INTERVAL_SECONDS = 5.0
BATCH = 200


async def due_snoozes(pool: asyncpg.Pool[Any], limit: int = BATCH) -> list[tuple[UUID, UUID]]:
    """(tenant id, conversation id) of snoozes whose time has come, longest overdue first."""
    rows = await pool.fetch("SELECT tenant_id, conversation_id FROM app.due_snoozes($1)", limit)
    return [(r["tenant_id"], r["conversation_id"]) for r in rows]


async def wake(pool: asyncpg.Pool[Any], tenant_id: UUID, conversation_id: UUID) -> bool:
    """Open one due conversation of `tenant_id` and queue its event; False if not due."""
    async with tenant_transaction(pool, tenant_id, "system") as conn:
        state = await repo.wake_snoozed(conn, conversation_id)
        if state is None:
            return False
        await emit(conn, tenant_id, updated_event(state, "status", identity=None))
    log.info("inbox.snooze_woken", conversation_id=str(conversation_id))
    return True


async def wake_due_snoozes(pool: asyncpg.Pool[Any]) -> int:
    """Wake every conversation that is due now; how many were woken."""
    woken = 0
    while True:
        due = await due_snoozes(pool)
        this_round = 0
        for tenant_id, conversation_id in due:
            this_round += await wake(pool, tenant_id, conversation_id)
        woken += this_round
        # A full batch means more may be due; a round that woke nothing never loops.
        if len(due) < BATCH or this_round == 0:
            return woken


async def _run(pool: asyncpg.Pool[Any], interval: float) -> None:
    while True:
        try:
            await wake_due_snoozes(pool)
        except (asyncpg.PostgresError, OSError) as error:
            # A database hiccup must not end the job: the next round retries.
            log.warning("inbox.snooze_wake_failed", error=type(error).__name__)
        await asyncio.sleep(interval)


async def snooze_waker_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the wake-up job while the app runs; cancelled and awaited on shut-down."""
    task = asyncio.create_task(_run(app[DB_POOL], WAKE_INTERVAL_SECONDS))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
