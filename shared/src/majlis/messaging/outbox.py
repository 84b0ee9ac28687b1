"""Transactional outbox: events commit with the change they describe; a relay publishes them.

The relay runs as role majlis_outbox_relay (SELECT and DELETE on `outbox` only, every
tenant). Relays of many processes share the outbox by tenant: a round takes a
transaction-scoped advisory lock on each tenant at the head of the outbox that no other relay
holds, then reads, in a new snapshot, those tenants' oldest rows in `seq` order, deletes them,
publishes them with confirms and commits (which releases the locks). So a relay slow to get
its confirms holds up only the tenants of its batch, never everyone's events, and one
tenant's events leave in the order they were committed however many relays run: the next
relay to lock the tenant sees the previous one's deletes. A failed publish rolls the delete
back (the rows stay first in line); a crash after the publish but before the commit
publishes the batch again: delivery is at least once, and consumers dedupe by event id
(majlis.messaging.idempotency).

Latency: a commit through tenant_transaction that queued events wakes this process's relay at
once (majlis.db.transactions); `poll_interval` is the fallback for rows committed elsewhere
(another process, a raw transaction) and the pace while idle. A relay that found a tenant
held by another relay looks again within milliseconds, not at the next poll.

Ordering: per tenant, in `seq` order, which follows insertion, not commit order: two
transactions of one tenant committing concurrently may go out in either order (one
conversation's work is serialised upstream by its advisory lock). Across tenants there is
no order.
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
CONTENDED_WAIT_S = 0.005  # first look again at a tenant another relay holds

# ::text on both sides keeps this independent of any jsonb codec registered on the pool.
_INSERT = """
INSERT INTO outbox (tenant_id, id, routing_key, envelope) VALUES ($1, $2, $3, $4::text::jsonb)
"""
# The tenants at the head of the outbox, oldest first, each locked for this transaction if no
# other relay holds it. The lock is tried once per tenant (on the materialised CTE's one row
# per tenant, never per outbox row), so a tenant is either this round's from the start or not
# at all. The window looks past the head batch so that one tenant's
# backlog, held by another relay, does not hide the tenants behind it.
_LOCK_HEAD_TENANTS = """
WITH head AS MATERIALIZED (
    SELECT tenant_id, min(seq) AS first
    FROM (SELECT tenant_id, seq FROM outbox ORDER BY seq LIMIT $1) AS window_rows
    GROUP BY tenant_id
)
SELECT tenant_id,
    pg_try_advisory_xact_lock(hashtextextended('outbox.tenant|' || tenant_id::text, 0)) AS locked
FROM head ORDER BY first
"""
_LOCK_HEAD_TENANTS_OF = _LOCK_HEAD_TENANTS.replace(
    "FROM outbox ORDER BY", "FROM outbox WHERE tenant_id = ANY($2::uuid[]) ORDER BY"
)
# A new statement, so a new snapshot taken after the locks: it sees every delete committed
# by the relays that held these tenants before.
_SELECT_BATCH = """
SELECT seq, id, envelope::text AS envelope FROM outbox
WHERE tenant_id = ANY($2::uuid[]) ORDER BY seq LIMIT $1
"""
HEAD_WINDOW = 4  # head rows looked at per round, in batches
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
        self._contended = False  # the last round found a tenant held by another relay

    def wake(self) -> None:
        """Events were committed in this process: relay them now rather than at the next poll."""
        self._woken.set()

    async def run_once(self) -> int:
        """Publish and delete one batch; returns rows relayed. PublishError leaves rows in place."""
        async with self._pool.acquire() as conn, conn.transaction():
            window = self._batch_size * HEAD_WINDOW
            if self._tenant_ids is None:
                heads = await conn.fetch(_LOCK_HEAD_TENANTS, window)
            else:
                heads = await conn.fetch(_LOCK_HEAD_TENANTS_OF, window, self._tenant_ids)
            mine = [h["tenant_id"] for h in heads if h["locked"]]
            self._contended = len(mine) < len(heads)
            if not mine:
                return 0
            rows = await conn.fetch(_SELECT_BATCH, self._batch_size, mine)
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
        contended_wait = CONTENDED_WAIT_S
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
            if relayed >= self._batch_size:
                contended_wait = CONTENDED_WAIT_S
            elif self._contended:
                # Another relay is publishing a tenant's earlier events; its later ones are
                # ours to take as soon as it commits, which is usually milliseconds away.
                await self._sleep(min(contended_wait, self._poll_interval), wakeable=True)
                contended_wait = min(contended_wait * 2, self._poll_interval)
            else:
                contended_wait = CONTENDED_WAIT_S
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
