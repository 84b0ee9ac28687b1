"""Benchmark: the first page of the conversation list through the gateway (not a test).

A database of its own (`majlis_bench`, created and migrated on first use) holds 100 tenants x
10,000 conversations, each with its own contact (phone and name encrypted, blind indexes),
seeded once with COPY and kept for later runs. A gateway and an inbox run as real processes;
a load loop with a fixed number of keep-alive connections asks
`GET /api/v1/conversations?limit=25` as signed-in agents of random tenants (JWT verified by
both, revocation and rate limits in Redis, one read-only tenant transaction in the inbox,
names and phones decrypted). Prints requests/s and p50/p99 latency, and where the CPU went:
microseconds per request of the gateway, the inbox, PostgreSQL's processes, Redis and this
load loop (read from /proc over the measured run), and the machine's busy cores.
Target (issue 5): >= 2,000 requests/s with p99 < 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from majlis.testing.benchmarks import clean_up, cpu_seconds, free_port, wait_ready

TENANTS = int(os.environ.get("BENCH_TENANTS", "100"))
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "10000"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
DATABASE = "majlis_bench"
MARK = "bench-inbox-list"


def _bench_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in (
        "MAJLIS_DATABASE_URL",
        "MAJLIS_DATABASE_OWNER_URL",
        "MAJLIS_OUTBOX_RELAY_DATABASE_URL",
        "MAJLIS_AUDIT_WRITER_DATABASE_URL",
    ):
        env[name] = env[name].rsplit("/", 1)[0] + "/" + DATABASE
    env.update(
        {
            "MAJLIS_LOG_LEVEL": "warning",
            "MAJLIS_REDIS_PREFIX": f"majlis-bench:{uuid.uuid4().hex[:8]}:",
            "MAJLIS_BUS_PREFIX": f"bench.{uuid.uuid4().hex[:8]}.",
            "MAJLIS_USER_RATE_LIMIT_PER_MINUTE": "100000000",
            "MAJLIS_TENANT_RATE_LIMIT_PER_MINUTE": "100000000",
            "MAJLIS_DB_POOL_MAX": "10",
        }
    )
    return env


async def _seed(env: dict[str, str]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The bench tenants and one agent of each, seeded on first use."""
    from inbox.contact_keys import name_key
    from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
    from majlis.settings import load_settings

    os.environ.update(env)
    settings = load_settings()
    admin_dsn = env["MAJLIS_DATABASE_ADMIN_URL"].rsplit("/", 1)[0] + "/" + DATABASE
    conn = await asyncpg.connect(admin_dsn)  # noqa: TID251 (superuser bulk load, bench only)
    try:
        rows = await conn.fetch(
            "SELECT t.id AS tenant_id, u.id AS user_id FROM tenants t"
            " JOIN users u ON u.tenant_id = t.id WHERE t.name = $1 ORDER BY t.id",
            MARK,
        )
        if len(rows) >= TENANTS:
            await _vacuum(conn)
            return [(r["tenant_id"], r["user_id"]) for r in rows[:TENANTS]]
        await conn.execute("DELETE FROM tenants WHERE name = $1", MARK)
        cipher = FieldCipher(KeyRing.from_settings(settings))
        indexer = BlindIndexer.from_settings(settings)
        started = time.perf_counter()
        seeded: list[tuple[uuid.UUID, uuid.UUID]] = []
        now = datetime.now(UTC)
        for t in range(TENANTS):
            tenant_id, user_id, number_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, MARK)
            await conn.execute(
                "INSERT INTO users (tenant_id, id, email, name, role)"
                " VALUES ($1, $2, $3, 'Agent', 'agent')",
                tenant_id,
                user_id,
                f"agent-{tenant_id.hex[:12]}@bench.test",
            )
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97140000000', $5)",
                tenant_id,
                number_id,
                str(10**14 + t),
                str(2 * 10**14 + t),
                cipher.encrypt(
                    "EAAbench", tenant_id=tenant_id, field="whatsapp_numbers.access_token"
                ),
            )
            contacts, conversations = [], []
            for i in range(CONVERSATIONS):
                contact_id = uuid.uuid4()
                phone = f"+9715{t % 10}{i:07d}"
                name = f"Customer {t}-{i}"
                contacts.append(
                    (
                        tenant_id,
                        contact_id,
                        cipher.encrypt(phone, tenant_id=tenant_id, field="contacts.phone"),
                        indexer.value(phone, tenant_id=tenant_id, field="contacts.phone"),
                        cipher.encrypt(name, tenant_id=tenant_id, field="contacts.name"),
                        indexer.value(name_key(name), tenant_id=tenant_id, field="contacts.name"),
                    )
                )
                moment = now - timedelta(seconds=random.randrange(30 * 86400))
                status = random.choices(("open", "pending", "resolved"), (6, 1, 3))[0]
                conversations.append(
                    (
                        tenant_id,
                        uuid.uuid4(),
                        contact_id,
                        number_id,
                        status,
                        moment,
                        moment,
                        random.randrange(3),
                    )
                )
            await conn.copy_records_to_table(
                "contacts",
                records=contacts,
                columns=["tenant_id", "id", "phone_enc", "phone_bidx", "name_enc", "name_bidx"],
            )
            await conn.copy_records_to_table(
                "conversations",
                records=conversations,
                columns=[
                    "tenant_id",
                    "id",
                    "contact_id",
                    "number_id",
                    "status",
                    "last_message_at",
                    "last_customer_message_at",
                    "unread_count",
                ],
            )
            seeded.append((tenant_id, user_id))
        await _vacuum(conn)
        print(
            f"# seeded {TENANTS} x {CONVERSATIONS} in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return seeded
    finally:
        await conn.close()


def _pids_named(name: str) -> list[int | None]:
    """Every process whose command is `name` (read from /proc, never signalled)."""
    found: list[int | None] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _busy_ticks() -> int:
    """Clock ticks the whole machine spent busy (not idle, not waiting, not stolen)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4] - (values[7] if len(values) > 7 else 0)


async def _vacuum(conn: asyncpg.Connection[Any]) -> None:
    """What autovacuum does in production (this machine's PostgreSQL runs without it): the
    seed's 10,000 counter updates per tenant leave dead row versions in conversation_counts
    that every list request's counts would otherwise wade through."""
    for table in ("contacts", "conversations", "conversation_counts"):
        await conn.execute(f"VACUUM (ANALYZE) {table}")


async def _drive(
    base: str, tokens: list[str], duration: float
) -> tuple[int, int, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                headers = {"Authorization": f"Bearer {random.choice(tokens)}"}
                started = time.perf_counter()
                async with session.get(
                    f"{base}/api/v1/conversations?limit=25", headers=headers
                ) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return len(latencies), errors, latencies, statuses


async def main() -> None:
    env = _bench_env()
    setup = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "majlis.db.setup", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    if await setup.wait() != 0:
        raise RuntimeError("could not set up the bench database")
    tenants = await _seed(env)
    from majlis.http.tokens import TokenSigner
    from majlis.settings import load_settings

    signer = TokenSigner.from_settings(load_settings())
    tokens = [
        signer.issue(user_id=user_id, tenant_id=tenant_id, role="agent", ttl_seconds=3600)[0]
        for tenant_id, user_id in tenants
    ]
    gateway_port, inbox_port = free_port(), free_port()
    env |= {
        "MAJLIS_GATEWAY_PORT": str(gateway_port),
        "MAJLIS_INBOX_PORT": str(inbox_port),
        "MAJLIS_INBOX_URL": f"http://127.0.0.1:{inbox_port}",
    }
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            name,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for name in ("inbox", "gateway")
    ]
    base = f"http://127.0.0.1:{gateway_port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"http://127.0.0.1:{inbox_port}")
            await wait_ready(session, base)
        await _drive(base, tokens, 2.0)  # warm pools and caches
        # Where the CPU goes, per component, over the measured run only. PostgreSQL's
        # processes include the inbox's pool's backends (started by the warm-up above).
        parts: dict[str, list[int | None]] = {
            "gateway": [processes[1].pid],
            "inbox": [processes[0].pid],
            "postgres": _pids_named("postgres"),
            "redis": _pids_named("redis-server"),
            "load": [os.getpid()],
        }
        cpu_before = {part: cpu_seconds(pids) for part, pids in parts.items()}
        busy_before, wall_before = _busy_ticks(), time.perf_counter()
        count, errors, latencies, statuses = await _drive(base, tokens, DURATION_S)
        wall = time.perf_counter() - wall_before
        busy_cores = (_busy_ticks() - busy_before) / os.sysconf("SC_CLK_TCK") / wall
        cpu_us = {
            part: round((cpu_seconds(pids) - cpu_before[part]) / max(count, 1) * 1e6, 1)
            for part, pids in parts.items()
        }
        # The same requests straight to the inbox: how the time splits between the two hops.
        direct = await _drive(f"http://127.0.0.1:{inbox_port}", tokens, DURATION_S / 2)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await process.wait()
        await clean_up(env)
    latencies.sort()
    result: dict[str, Any] = {
        "scenario": "conversation list, first page, through the gateway",
        "tenants": len(tenants),
        "conversations_per_tenant": CONVERSATIONS,
        "connections": CONNECTIONS,
        "duration_s": DURATION_S,
        "requests": count,
        "errors": errors,
        "statuses": statuses,
        "requests_per_s": round(count / DURATION_S, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 2),
        "target": ">= 2000 req/s, p99 < 50 ms",
        "cpu_us_per_request": cpu_us | {"all": round(sum(cpu_us.values()), 1)},
        "machine_busy_cores": round(busy_cores, 2),
        "inbox_direct_requests_per_s": round(direct[0] / (DURATION_S / 2), 1),
        "inbox_direct_p99_ms": round(
            sorted(direct[2])[max(int(len(direct[2]) * 0.99) - 1, 0)] * 1000, 2
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
