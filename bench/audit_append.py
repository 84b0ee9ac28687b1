"""Benchmark: audit entries appended per second with the hash chain (not a test).

Calls the audit service's append directly on the database as the writer role: a few tenants
appended to concurrently (appends of one tenant serialise on its chain-head row), in batches
of BENCH_AUDIT_BATCH entries per transaction, and also one entry per transaction (the path a
single consumed message would take without group commit), and through the ChainAppender as
the consumer uses it (PREFETCH handlers in flight). Prints one JSON line.

Clean-up: the bench tenants are deleted; their audit entries stay, by design — the log is
append-only for every role and has no foreign key to tenants, so it outlives them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from audit import repository
from audit.appender import ChainAppender
from audit.chain import Entry
from majlis.db import create_pool, tenant_transaction
from majlis.settings import load_settings

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "40000"))
SINGLE_EVENTS = int(os.environ.get("BENCH_AUDIT_SINGLE_EVENTS", "2000"))
TENANTS = int(os.environ.get("BENCH_AUDIT_TENANTS", "4"))
BATCH = int(os.environ.get("BENCH_AUDIT_BATCH", "200"))
PREFETCH = int(os.environ.get("BENCH_AUDIT_PREFETCH", "32"))
TARGET_PER_S = 5000


def _entry(tenant_id: uuid.UUID, i: int) -> Entry:
    return Entry(
        tenant_id=tenant_id,
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        action="api_keys.created",
        outcome="success",
        actor_type="user",
        actor_id=uuid.uuid4(),
        actor_role="owner",
        target_type="api_key",
        target_id=str(i),
        ip="203.0.113.7",
        user_agent="bench/1.0",
        request_id=uuid.uuid4().hex,
        details={"name": f"key {i}", "scopes": ["contacts:read"]},
    )


async def _append_all(pool: asyncpg.Pool[Any], tenant_id: uuid.UUID, n: int, batch: int) -> None:
    for start in range(0, n, batch):
        entries = [_entry(tenant_id, i) for i in range(start, min(n, start + batch))]
        async with tenant_transaction(pool, tenant_id, "system") as conn:
            await repository.append(conn, tenant_id, entries, datetime.now(UTC))


async def _rate(pool: asyncpg.Pool[Any], tenants: list[uuid.UUID], n: int, batch: int) -> float:
    per_tenant = n // len(tenants)
    started = time.perf_counter()
    await asyncio.gather(*(_append_all(pool, t, per_tenant, batch) for t in tenants))
    return per_tenant * len(tenants) / (time.perf_counter() - started)


async def _consumer_path_rate(pool: asyncpg.Pool[Any], tenants: list[uuid.UUID], n: int) -> float:
    """As the consumer appends: PREFETCH handlers at once, each one entry, group-committed."""
    appender = ChainAppender(pool, lambda _: None)
    queue = [_entry(tenants[i % len(tenants)], i) for i in range(n)]

    async def handler_slot() -> None:
        while queue:
            await appender.append(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(handler_slot() for _ in range(PREFETCH)))
    await appender.close()
    return n / (time.perf_counter() - started)


async def main() -> None:
    """Create the tenants, measure both modes, delete the tenants, print the figures."""
    settings = load_settings()
    app_pool = await create_pool(settings.database_url.get_secret_value(), min_size=1)
    writer = await create_pool(
        settings.audit_writer_database_url.get_secret_value(), min_size=TENANTS, max_size=TENANTS
    )
    tenants = [uuid.uuid4() for _ in range(TENANTS)]
    try:
        for tenant_id in tenants:
            async with tenant_transaction(app_pool, tenant_id) as conn:
                await conn.execute(
                    "INSERT INTO tenants (id, name, plan) VALUES ($1, 'Audit bench', 'business')",
                    tenant_id,
                )
        await _rate(writer, tenants, 400, BATCH)  # warm up pools and plans
        batched = await _rate(writer, tenants, EVENTS, BATCH)
        single = await _rate(writer, tenants, SINGLE_EVENTS, 1)
        consumer_path = await _consumer_path_rate(writer, tenants, EVENTS // 4)
    finally:
        for tenant_id in tenants:
            async with tenant_transaction(app_pool, tenant_id) as conn:
                await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
        await writer.close()
        await app_pool.close()
    result = {
        "scenario": "audit append with hash chain (writer role, direct)",
        "tenants": TENANTS,
        "events": EVENTS,
        "batch": BATCH,
        "events_per_s": round(batched, 1),
        "single_event_tx_per_s": round(single, 1),
        "consumer_path_per_s": round(consumer_path, 1),
        "consumer_prefetch": PREFETCH,
        "target_per_s": TARGET_PER_S,
        "target_met": batched >= TARGET_PER_S,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
