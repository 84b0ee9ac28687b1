"""Group commit: entries consumed concurrently for one tenant are appended in one transaction.

The consumer runs up to `bus_prefetch` handlers at once. Each hands its entry here and waits;
one drain task per tenant appends everything pending in a single transaction (one head lock,
one insert, one commit), then releases the waiters, whose messages are acked only then. A
burst costs a few commits instead of one per event; a lone event is appended at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from audit import repository
from audit.chain import Entry
from majlis.db import tenant_transaction

_Waiting = tuple[Entry, "asyncio.Future[None]"]


class ChainAppender:
    """Appends entries to their tenant's chain, batching those that arrive together."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        on_appended: Callable[[UUID], None],
        *,
        max_batch: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Append through the writer's `pool`; `on_appended(tenant_id)` after each commit."""
        self._pool = pool
        self._on_appended = on_appended
        self._max_batch = max_batch
        self._clock = clock
        self._pending: dict[UUID, list[_Waiting]] = {}
        self._drains: dict[UUID, asyncio.Task[None]] = {}

    async def append(self, entry: Entry) -> None:
        """Return once `entry` is committed (or was already in the chain); raise if it failed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(entry.tenant_id, []).append((entry, future))
        if entry.tenant_id not in self._drains:
            self._drains[entry.tenant_id] = asyncio.create_task(
                self._drain(entry.tenant_id), name=f"audit-append-{entry.tenant_id}"
            )
        # shield: a cancelled handler must not cancel the batch its neighbours wait on.
        await asyncio.shield(future)

    async def close(self) -> None:
        """Wait for every drain in progress."""
        while self._drains:
            await asyncio.wait(set(self._drains.values()))

    async def _drain(self, tenant_id: UUID) -> None:
        try:
            # No await between the last pop and the finally: an entry added meanwhile would
            # otherwise find a drain that is about to end and never be appended.
            while waiting := self._pending.pop(tenant_id, None):
                if len(waiting) > self._max_batch:
                    self._pending[tenant_id] = waiting[self._max_batch :]
                    waiting = waiting[: self._max_batch]
                await self._commit(tenant_id, waiting)
        finally:
            del self._drains[tenant_id]

    async def _commit(self, tenant_id: UUID, waiting: list[_Waiting]) -> None:
        try:
            await self._append(tenant_id, [entry for entry, _ in waiting])
        except Exception as exc:  # noqa: BLE001  # handed to each waiter, whose message retries
            if len(waiting) > 1:
                # One bad entry must not fail its neighbours: retry them one by one.
                for one in waiting:
                    await self._commit(tenant_id, [one])
                return
            _settle(waiting, exc)
            return
        _settle(waiting, None)

    async def _append(self, tenant_id: UUID, entries: list[Entry]) -> None:
        async with tenant_transaction(self._pool, tenant_id, "system") as conn:
            appended = await repository.append(conn, tenant_id, entries, self._clock())
        if appended.count:
            self._on_appended(tenant_id)


def _settle(waiting: list[_Waiting], error: BaseException | None) -> None:
    for _, future in waiting:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
