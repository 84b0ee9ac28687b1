"""Transactional outbox: events commit with the change they describe; a relay publishes them.

The relay runs as role majlis_outbox_relay (SELECT and DELETE on `outbox` only, every
tenant). Relays of many processes share the outbox by tenant: a round finds the next few
tenants that have events (in tenant id order, going on from where its last round stopped and
wrapping around: round robin), takes a transaction-scoped advisory lock on each that no other
relay holds, then reads, in a new snapshot, each locked tenant's oldest rows in `seq` order (an
equal share of the batch each), deletes them, publishes them with confirms and commits (which
releases the locks). So one tenant's events leave in the order they were committed however many
relays run (the next relay to lock the tenant sees the previous one's deletes), a relay slow to
get its confirms holds up only the tenants of its batch, and one tenant's backlog (a bulk
change of thousands of events) never makes the other tenants' events wait behind it: each round
serves every tenant it found. A failed publish rolls the delete back (the rows stay first in
line); a crash after the publish but before the commit publishes the batch again: delivery is
at least once, and consumers dedupe by event id (majlis.messaging.idempotency).

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
from collections import Counter
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
# The next tenants with events in round robin order: those after $1 (the last tenant the
# previous round looked at) in tenant id order, then around from the first up to $1 itself; at
# most `tenants` of them (all tenants, or those in $2 where `only` says so). Each is locked for
# this transaction if no other relay holds it. Two skip scans of the primary key (tenant_id,
# id), one index probe per tenant however many events each has, read only as far as the LIMIT
# needs. The lock is tried once per tenant (on the materialised CTE's one row per tenant), so
# a tenant is either this round's from the start or not at all.
# The limits and the tenant filter are part of the text, fixed per relay (see _lock_sql): as
# parameters they made PostgreSQL plan the statement anew on every round (~0.2 ms of its CPU,
# several times a second per relay even when idle).
_LOCK_NEXT_TENANTS = """
WITH RECURSIVE later (tenant_id) AS (
    (SELECT tenant_id FROM outbox
     WHERE tenant_id > $1{only}
     ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT o.tenant_id FROM outbox AS o
            WHERE o.tenant_id > later.tenant_id{only_o}
            ORDER BY o.tenant_id LIMIT 1)
    FROM later WHERE later.tenant_id IS NOT NULL
), around (tenant_id) AS (
    (SELECT tenant_id FROM outbox
     WHERE tenant_id <= $1{only}
     ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT o.tenant_id FROM outbox AS o
            WHERE o.tenant_id > around.tenant_id AND o.tenant_id <= $1{only_o}
            ORDER BY o.tenant_id LIMIT 1)
    FROM around WHERE around.tenant_id IS NOT NULL
), next AS MATERIALIZED (
    (SELECT tenant_id FROM later WHERE tenant_id IS NOT NULL)
    UNION ALL
    (SELECT tenant_id FROM around WHERE tenant_id IS NOT NULL)
    LIMIT {tenants:d}
)
SELECT tenant_id,
    pg_try_advisory_xact_lock(hashtextextended('outbox.tenant|' || tenant_id::text, 0)) AS locked
FROM next ORDER BY tenant_id <= $1, tenant_id
"""
# A new statement, so a new snapshot taken after the locks: it sees every delete committed
# by the relays that held these tenants before. Each tenant's oldest `share` rows, by the
# (tenant_id, seq) index (migration 0033). The share is written in (an int, one text per
# share a relay can take) for the same reason.
_SELECT_BATCH = """
SELECT t.tenant_id, r.seq, r.id, r.envelope::text AS envelope
FROM unnest($1::uuid[]) AS t (tenant_id)
CROSS JOIN LATERAL (
    SELECT seq, id, envelope FROM outbox AS o
    WHERE o.tenant_id = t.tenant_id ORDER BY o.seq LIMIT {share:d}
) AS r
"""
# The same for one tenant (most rounds): an array parameter's length changes the estimate, so
# the statement above is planned anew each time; this one keeps its plan.
_SELECT_ONE_TENANT = """
SELECT tenant_id, seq, id, envelope::text AS envelope
FROM outbox WHERE tenant_id = $1 ORDER BY seq LIMIT {share:d}
"""


def _lock_sql(tenants: int, *, filtered: bool) -> str:
    """The round's statement for a relay taking at most `tenants` tenants per round, of $2."""
    if isinstance(tenants, bool) or not isinstance(tenants, int) or tenants < 1:
        raise ValueError("tenants_per_round must be a positive int")
    return _LOCK_NEXT_TENANTS.format(
        only=" AND tenant_id = ANY($2::uuid[])" if filtered else "",
        only_o=" AND o.tenant_id = ANY($2::uuid[])" if filtered else "",
        tenants=tenants,
    )


TENANTS_PER_ROUND = 32
_FIRST_TENANT = UUID(int=0)
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
        tenants_per_round: int = TENANTS_PER_ROUND,
    ) -> None:
        """`tenant_ids` limits the relay to those tenants (tests, a targeted drain)."""
        self._pool = pool
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._tenant_ids = None if tenant_ids is None else list(tenant_ids)
        self._tenants_per_round = tenants_per_round
        self._lock_next_sql = _lock_sql(tenants_per_round, filtered=tenant_ids is not None)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be a positive int")
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._contended = False  # the last round found a tenant held by another relay
        self._after = _FIRST_TENANT  # the round robin's place: the last tenant looked at
        self._more = False  # the last round left events it could have taken

    def wake(self) -> None:
        """Events were committed in this process: relay them now rather than at the next poll."""
        self._woken.set()

    async def run_once(self) -> int:
        """Publish and delete one batch; returns rows relayed. PublishError leaves rows in place."""
        async with self._pool.acquire() as conn, conn.transaction():
            mine, unreached = await self._lock_next_tenants(conn)
            if not mine:
                return 0
            share = max(1, self._batch_size // len(mine))
            if len(mine) == 1:
                rows = await conn.fetch(_SELECT_ONE_TENANT.format(share=share), mine[0])
            else:
                rows = await conn.fetch(_SELECT_BATCH.format(share=share), mine)
            # A tenant that filled its share may have more; so may tenants this round did not
            # reach. Either way the next round comes at once, not at the next poll.
            taken = Counter(row["tenant_id"] for row in rows)
            self._more = unreached or any(n >= share for n in taken.values())
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

    async def _lock_next_tenants(
        self, conn: asyncpg.pool.PoolConnectionProxy[Any]
    ) -> tuple[list[UUID], bool]:
        """The tenants of this round: the next ones with events after the last round's, round
        robin, locked; those another relay holds are left to it (and noted as contended).
        Also whether the round reached its tenant limit (others may have events too)."""
        only = () if self._tenant_ids is None else (self._tenant_ids,)
        heads = await conn.fetch(self._lock_next_sql, self._after, *only)
        # The next round goes on after the last tenant looked at.
        if heads:
            self._after = heads[-1]["tenant_id"]
        mine = [h["tenant_id"] for h in heads if h["locked"]]
        self._contended = len(mine) < len(heads)
        return mine, len(heads) >= self._tenants_per_round

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
            # More is waiting (a full batch, a tenant that filled its share, tenants the round
            # did not reach): go again at once instead of sleeping.
            if relayed >= self._batch_size or (relayed and self._more):
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
