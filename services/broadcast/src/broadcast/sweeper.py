"""The dispatcher's sweeper: retries and resumed sends when due, and the outcome-unknown sweep.

It runs in every replica; leases (queued rows) and conditional updates keep replicas from
doing the same work twice, and the claim (queued → sending) keeps any send from going twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import asyncpg

from broadcast import sends_repository as repo
from broadcast.dispatcher import Dispatcher
from majlis.db import tenant_transaction
from majlis.logging import get_logger

log = get_logger(__name__)


class Sweeper:
    """Periodically re-dispatches due sends and settles sends stuck in 'sending'."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        """Sweep for `dispatcher`, with its configuration."""
        self._dispatcher = dispatcher
        self._config = dispatcher.config
        self._slots = asyncio.Semaphore(self._config.sweep_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Sweep until stop()."""
        while not self._stopping.is_set():
            try:
                await self.sweep_once()
            # InterfaceError: a connection lost to a PostgreSQL restart (see campaign_runner).
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("dispatch.sweep_failed", error_type=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._config.sweep_interval_s)

    async def stop(self) -> None:
        """Stop sweeping and wait for the sends in flight."""
        self._stopping.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def sweep_once(self) -> None:
        """One pass: settle stale sends, then start the due ones."""
        pool, cfg = self._dispatcher.pool, self._config
        for tenant_id, send_id in await repo.stale_sends(
            pool, cfg.outcome_unknown_after_s, cfg.sweep_batch
        ):
            await self._dispatcher.settle_unknown(tenant_id, send_id)
        for tenant_id, send_id in await repo.due_sends(pool, cfg.sweep_batch):
            async with tenant_transaction(pool, tenant_id) as conn:
                leased = await repo.lease(conn, send_id, cfg.sweep_lease_s)
            if not leased:
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._attempt(tenant_id, send_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attempt(self, tenant_id: UUID, send_id: UUID) -> None:
        try:
            await self._dispatcher.attempt(tenant_id, send_id, "sweeper")
        except Exception as error:  # noqa: BLE001  # the lease expires and a later sweep retries
            log.warning("dispatch.sweep_send_failed", error_type=type(error).__name__)
        finally:
            self._slots.release()
