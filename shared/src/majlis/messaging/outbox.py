"""Transactional outbox: events commit with the change they describe; a relay publishes them.

The relay runs as role majlis_outbox_relay (SELECT and DELETE on `outbox` only, every
tenant; an UPDATE grant on one column only for row locks, which its policy never lets write).
Each round locks a batch in `seq` order, skipping rows another relay holds, deletes it inside
a transaction, publishes it with confirms and commits: relays of many processes share the
work instead of waiting on each other's batch. A failed publish rolls the delete back (the
rows unlock for the next round); a crash after the publish but before the commit publishes
the batch again: delivery is at least once, and consumers dedupe by event id
(majlis.messaging.idempotency).

Latency: a commit through tenant_transaction that queued events wakes this process's relay at
once (majlis.db.transactions); `poll_interval` is the fallback for rows committed elsewhere
(another process, a raw transaction) and the pace while idle.

Ordering is best-effort: `seq` follows insertion, not commit order, a batch's publishes are
in flight together, and a failed batch is retried after newer ones may have gone out, so no
consumer may rely on order across (or within) tenants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from majlis.db.transactions import add_outbox_waker, note_outbox_write, remove_outbox_waker
from majlis.events import Envelope, envelope_bytes, parse_envelope
from majlis.logging import get_logger
from majlis.messaging.publisher import Publisher, PublishError

log = get_logger(__name__)

MAX_BACKOFF_S = 30.0

# ::text on both sides keeps this independent of any jsonb codec registered on the pool.
_INSERT = """
INSERT INTO outbox (tenant_id, id, routing_key, envelope) VALUES ($1, $2, $3, $4::text::jsonb)
"""
# The batch is locked as it is read, skipping rows another relay's round holds, so concurrent
# relays take the next free rows instead of queueing behind one batch (migration 0028 grants
# the UPDATE privilege FOR UPDATE asks for; the relay's policy refuses any real UPDATE).
_SELECT_BATCH = """
SELECT seq, id, envelope::text AS envelope FROM outbox ORDER BY seq LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_SELECT_TENANTS_BATCH = """
SELECT seq, id, envelope::text AS envelope FROM outbox
WHERE tenant_id = ANY($2::uuid[]) ORDER BY seq LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_CLAIM_BATCH = "DELETE FROM outbox WHERE seq = ANY($1::bigint[]) RETURNING seq"


async def add_to_outbox(conn: asyncpg.Connection[Any], envelope: Envelope) -> None:
    """Queue an event in the caller's tenant transaction; it is published only if that commits."""
    await conn.execute(
        _INSERT,
        envelope.tenant_id,
        envelope.id,
        envelope.type,
        envelope_bytes(envelope).decode(),
    )
    note_outbox_write()


async def add_all_to_outbox(conn: asyncpg.Connection[Any], envelopes: Collection[Envelope]) -> None:
    """Queue many events in the caller's tenant transaction in one round trip (bulk writes)."""
    if not envelopes:
        return
    await conn.executemany(
        _INSERT,
        [(e.tenant_id, e.id, e.type, envelope_bytes(e).decode()) for e in envelopes],
    )
    note_outbox_write()


class OutboxRelay:
    """Moves committed outbox rows to the bus, batch by batch, until stop()."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        publisher: Publisher,
        *,
        batch_size: int,
        poll_interval: float,
        tenant_ids: Collection[UUID] | None = None,
    ) -> None:
        """`tenant_ids` limits the relay to those tenants (tests, a targeted drain)."""
        self._pool = pool
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._tenant_ids = None if tenant_ids is None else list(tenant_ids)
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Events were committed in this process: relay them now rather than at the next poll."""
        self._woken.set()

    async def run_once(self) -> int:
        """Publish and delete one batch; returns rows relayed. PublishError leaves rows in place."""
        async with self._pool.acquire() as conn, conn.transaction():
            if self._tenant_ids is None:
                rows = await conn.fetch(_SELECT_BATCH, self._batch_size)
            else:
                rows = await conn.fetch(_SELECT_TENANTS_BATCH, self._batch_size, self._tenant_ids)
            parsed: dict[int, Envelope] = {}
            for row in rows:
                try:
                    parsed[row["seq"]] = parse_envelope(row["envelope"].encode())
                except ValidationError:
                    # Only add_to_outbox writes here, so this means tampering or a bug; keep
                    # the row for an operator rather than publishing or losing it.
                    log.error("outbox.row.invalid", event_id=str(row["id"]), seq=row["seq"])
            if not parsed:
                return 0
            claimed = sorted(r["seq"] for r in await conn.fetch(_CLAIM_BATCH, list(parsed)))
            # Raising here rolls the delete back: the rows stay for the next round.
            await self._publisher.publish_many([parsed[seq] for seq in claimed])
        if claimed:
            log.debug("outbox.relayed", count=len(claimed))
        return len(claimed)

    async def run(self) -> None:
        """Relay until stop(); backs off while the broker or the database is unavailable."""
        add_outbox_waker(self.wake)
        try:
            await self._run()
        finally:
            remove_outbox_waker(self.wake)

    async def _run(self) -> None:
        backoff = self._poll_interval
        while not self._stopping.is_set():
            self._woken.clear()  # what commits from here on is for the next round
            try:
                relayed = await self.run_once()
            except (
                PublishError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                OSError,
                TimeoutError,
            ) as exc:
                log.warning(
                    "outbox.relay.failed", error_type=type(exc).__name__, retry_in_s=backoff
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = self._poll_interval
            # A full batch suggests more is waiting: go again at once instead of sleeping.
            if relayed < self._batch_size:
                await self._sleep(self._poll_interval, wakeable=True)

    async def stop(self) -> None:
        """Ask run() to return after the current round (await the run() task afterwards)."""
        self._stopping.set()

    async def _sleep(self, seconds: float, *, wakeable: bool = False) -> None:
        """Sleep `seconds`, or until stop() (or, if `wakeable`, a wake())."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self._woken.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
