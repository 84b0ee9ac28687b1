"""SQL of the audit log: plain async functions, connection first, `$n` parameters only.

Every function runs inside a tenant_transaction; row-level security scopes it to that tenant.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from audit.chain import GENESIS_HASH, Entry, chain_row

COLUMNS = (
    "seq", "event_id", "occurred_at", "recorded_at", "action", "outcome", "actor_type",
    "actor_id", "actor_role", "target_type", "target_id", "ip", "user_agent", "request_id",
    "correlation_id", "changes", "details", "prev_hash", "hash",
)  # fmt: skip
_SELECT = """
SELECT tenant_id, seq, event_id, occurred_at, recorded_at, action, outcome, actor_type,
  actor_id, actor_role, target_type, target_id, ip, user_agent, request_id, correlation_id,
  changes, details, prev_hash, hash
FROM audit_events"""

_ENSURE_HEAD = """
INSERT INTO audit_chain_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING
"""
# The lock that serialises appenders of one tenant (across replicas) and keeps seq gapless.
_LOCK_HEAD = "SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE"
_ALREADY = "SELECT event_id FROM audit_events WHERE tenant_id = $1 AND event_id = ANY($2::uuid[])"
_INSERT = """
INSERT INTO audit_events (tenant_id, seq, event_id, occurred_at, recorded_at, action, outcome,
  actor_type, actor_id, actor_role, target_type, target_id, ip, user_agent, request_id,
  correlation_id, changes, details, prev_hash, hash)
SELECT t, s, e, o, r, a, oc, at, ai, ar, tt, ti, ip, ua, ri, ci, ch::jsonb, de::jsonb, ph, h
FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::timestamptz[], $5::timestamptz[],
  $6::text[], $7::text[], $8::text[], $9::uuid[], $10::text[], $11::text[], $12::text[],
  $13::text[], $14::text[], $15::text[], $16::uuid[], $17::text[], $18::text[], $19::bytea[],
  $20::bytea[]) AS u(t, s, e, o, r, a, oc, at, ai, ar, tt, ti, ip, ua, ri, ci, ch, de, ph, h)
"""
_MOVE_HEAD = (
    "UPDATE audit_chain_heads SET seq = $2, hash = $3, updated_at = now() WHERE tenant_id = $1"
)
_INSERT_COLUMNS = ("tenant_id", *COLUMNS)


def _param(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


@dataclass(frozen=True, slots=True)
class Appended:
    """What an append did: rows written (duplicates skipped) and the new head."""

    count: int
    seq: int
    hash: bytes


async def append(
    conn: asyncpg.Connection[Any], tenant_id: UUID, entries: Sequence[Entry], now: datetime
) -> Appended:
    """Append entries of one tenant to its chain; entries already in the log are skipped."""
    await conn.execute(_ENSURE_HEAD, tenant_id, GENESIS_HASH)
    head = await conn.fetchrow(_LOCK_HEAD, tenant_id)
    assert head is not None  # ensured just above, in this transaction
    seq, prev = int(head["seq"]), bytes(head["hash"])
    # Checked under the head lock, so a concurrent duplicate cannot slip in between.
    done = {
        r["event_id"] for r in await conn.fetch(_ALREADY, tenant_id, [e.event_id for e in entries])
    }
    rows: list[dict[str, Any]] = []
    for entry in entries:
        if entry.event_id in done or entry.tenant_id != tenant_id:
            continue
        done.add(entry.event_id)
        seq += 1
        row = chain_row(entry, seq=seq, prev_hash=prev, recorded_at=now)
        prev = row["hash"]
        rows.append(row)
    if rows:
        # JSON goes as text: a list value would otherwise read as another array dimension.
        columns = [[_param(row[c]) for row in rows] for c in _INSERT_COLUMNS]
        await conn.execute(_INSERT, *columns)
        await conn.execute(_MOVE_HEAD, tenant_id, seq, prev)
    return Appended(len(rows), seq, prev)


async def chain_head(conn: asyncpg.Connection[Any], tenant_id: UUID) -> asyncpg.Record | None:
    """The current end of a tenant's chain (seq, hash), if it has one."""
    return await conn.fetchrow(
        "SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = $1", tenant_id
    )


async def last_signed_seq(conn: asyncpg.Connection[Any], tenant_id: UUID) -> int:
    """The seq of the latest signed head (0 when none)."""
    value = await conn.fetchval(
        "SELECT coalesce(max(seq), 0) FROM audit_heads WHERE tenant_id = $1", tenant_id
    )
    return int(value)


async def insert_signed_head(
    conn: asyncpg.Connection[Any],
    tenant_id: UUID,
    seq: int,
    head_hash: bytes,
    signed_at: datetime,
    signature: bytes,
) -> bool:
    """Store a signed head; False if another replica signed this seq first."""
    inserted = await conn.fetchval(
        "INSERT INTO audit_heads (tenant_id, seq, hash, signed_at, signature)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
        tenant_id,
        seq,
        head_hash,
        signed_at,
        signature,
    )
    return inserted is not None


async def signed_heads(conn: asyncpg.Connection[Any], tenant_id: UUID) -> list[asyncpg.Record]:
    """Every signed head of a tenant, oldest first."""
    return await conn.fetch(
        "SELECT tenant_id, seq, hash, signed_at, signature FROM audit_heads"
        " WHERE tenant_id = $1 ORDER BY seq",
        tenant_id,
    )


def chain_rows(conn: asyncpg.Connection[Any], tenant_id: UUID) -> AsyncIterable[asyncpg.Record]:
    """Every entry of a tenant in seq order, streamed (call inside a transaction)."""
    return conn.cursor(_SELECT + " WHERE tenant_id = $1 ORDER BY seq", tenant_id, prefetch=1000)


@dataclass(frozen=True, slots=True)
class Filters:
    """Filters of the list and export endpoints; None means "any"."""

    actor_id: UUID | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


# One fixed statement: an unset filter is a NULL parameter, never a different SQL text.
_FILTERED = (
    _SELECT
    + """
 WHERE tenant_id = (SELECT app.current_tenant_id())
   AND ($1::uuid IS NULL OR actor_id = $1)
   AND ($2::text IS NULL OR action = $2)
   AND ($3::text IS NULL OR target_type = $3)
   AND ($4::text IS NULL OR target_id = $4)
   AND ($5::timestamptz IS NULL OR occurred_at >= $5)
   AND ($6::timestamptz IS NULL OR occurred_at < $6)
"""
)
_PAGE = _FILTERED + " AND ($7::bigint IS NULL OR seq < $7) ORDER BY seq DESC LIMIT $8"
_EXPORT = _FILTERED + " ORDER BY seq"


def _filter_args(f: Filters) -> tuple[Any, ...]:
    return (f.actor_id, f.action, f.target_type, f.target_id, f.occurred_from, f.occurred_to)


async def page(
    conn: asyncpg.Connection[Any], filters: Filters, before_seq: int | None, limit: int
) -> list[asyncpg.Record]:
    """Newest-first entries matching `filters` with seq below `before_seq` (keyset)."""
    return await conn.fetch(_PAGE, *_filter_args(filters), before_seq, limit)


def export_rows(conn: asyncpg.Connection[Any], filters: Filters) -> AsyncIterable[asyncpg.Record]:
    """Entries matching `filters` in seq order, streamed (call inside a transaction)."""
    return conn.cursor(_EXPORT, *_filter_args(filters), prefetch=500)
