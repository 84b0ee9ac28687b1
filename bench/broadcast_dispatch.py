"""Benchmark: the dispatcher's pacing, a 100,000-recipient campaign and a status storm.

Not a test. Real processes: the Graph API simulator (every send answered after
`BENCH_META_LATENCY_MS`, 250 ms like Meta, and Meta's per-number throughput limit enforced
with 130429), webhook-ingest (the simulator's status webhooks arrive signed, one status per
POST like Meta's) and the broadcast service. The bench plays a campaign: it publishes bulk
send commands (template messages to distinct recipients, payload encrypted as campaigns do)
with broker confirms, then watches `outbound_sends` until every send is final.

Two runs:
1. 80 messages/s (Meta's default per number): achieved rate over the middle 90 % of sends
   (target 80 ± 2 %) and how many sends Meta refused with 130429 (target 0);
2. 1,000 messages/s (a number raised to Meta's maximum) to `BENCH_RECIPIENTS` (100,000)
   recipients: achieved rate (target 1,000 ± 5 %), time to the last send (target ≤ 110 s),
   the dispatcher's CPU (target ≤ 0.5 core), and during it the status storm (sent, delivered
   and read for each message, as webhooks): statuses per second, the largest backlog of the
   dispatcher's status queue, and how long all queues took to drain after the last send
   (target ≤ 10 s). The bench waits three times the target's duration (plus a minute) at
   most; a campaign still sending then is reported as it stands (sent so far, the
   dispatcher's CPU over the whole wait, no drain time).

The inbox is not started: its `inbox.statuses` queue receives every status and send result
too, and the bench empties it each second so that it does not pile up in RabbitMQ (the inbox's
own cost is in its benchmarks).
Prints one JSON line per run. Exits 0 whether or not targets are met; removes the tenant,
the bench prefix's queues and Redis keys at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from typing import Any

import aiohttp

from majlis.testing.benchmarks import clean_up, cpu_seconds, free_port, queue_depths, wait_ready

RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", "100000"))
PACING_SECONDS = float(os.environ.get("BENCH_PACING_S", "20"))
META_LATENCY_MS = int(os.environ.get("BENCH_META_LATENCY_MS", "250"))
PUBLISH_BATCH = 1000
QUEUES = ["broadcast.bulk", "broadcast.events", "broadcast.commands"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MAJLIS_LOG_LEVEL": "warning",
            "MAJLIS_REDIS_PREFIX": f"majlis-bench:{uuid.uuid4().hex[:8]}:",
            "MAJLIS_BUS_PREFIX": f"bench.{uuid.uuid4().hex[:8]}.",
            "MAJLIS_WEBHOOK_INGEST_PORT": str(free_port()),
            "MAJLIS_BROADCAST_PORT": str(free_port()),
            "MAJLIS_GRAPH_SIMULATOR_PORT": str(free_port()),
        }
    )
    env["MAJLIS_GRAPH_API_URL"] = f"http://127.0.0.1:{env['MAJLIS_GRAPH_SIMULATOR_PORT']}"
    return env


async def _create_number(rate: int | None) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A tenant with one active number (rate per second, NULL = Meta's default)."""
    from majlis.crypto import FieldCipher, KeyRing
    from majlis.db import create_pool, tenant_transaction
    from majlis.settings import load_settings

    settings = load_settings()
    tenant_id, number_id = uuid.uuid4(), uuid.uuid4()
    phone_number_id = str(10**14 + secrets.randbelow(9 * 10**14))
    cipher = FieldCipher(KeyRing.from_settings(settings))
    token = cipher.encrypt(
        "EAAbenchtoken", tenant_id=tenant_id, field="whatsapp_numbers.access_token"
    )
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1)
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(
                "INSERT INTO tenants (id, name, plan) VALUES ($1, 'Bench dispatch', 'business')",
                tenant_id,
            )
        async with tenant_transaction(pool, tenant_id, "owner") as conn:
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc, status, send_rate_per_second)"
                " VALUES ($1, $2, $3, '102290129340398', '+97143000001', $4, 'active', $5)",
                tenant_id,
                number_id,
                phone_number_id,
                token,
                rate,
            )
    finally:
        await pool.close()
    return tenant_id, number_id, phone_number_id


async def _publish(tenant_id: uuid.UUID, number_id: uuid.UUID, count: int) -> float:
    """Publish `count` bulk sends (confirmed); returns when the first was published."""
    from majlis.crypto import FieldCipher, KeyRing
    from majlis.events import make_envelope
    from majlis.events.broadcast import SEND_PAYLOAD_FIELD, SendBulkMessage
    from majlis.messaging import connect_publisher
    from majlis.settings import load_settings

    settings = load_settings()
    cipher = FieldCipher(KeyRing.from_settings(settings))
    publisher = await connect_publisher(settings)
    started = time.monotonic()
    try:
        for start in range(0, count, PUBLISH_BATCH):
            batch = []
            for i in range(start, min(count, start + PUBLISH_BATCH)):
                payload = {
                    "to": f"+97155{i:07d}",
                    "message": {
                        "type": "template",
                        "template": {
                            "name": "bench_offer",
                            "language": {"code": "en"},
                            "components": [
                                {"type": "body", "parameters": [{"type": "text", "text": "Ali"}]}
                            ],
                        },
                    },
                }
                sealed = cipher.encrypt(
                    json.dumps(payload).encode(), tenant_id=tenant_id, field=SEND_PAYLOAD_FIELD
                )
                command = SendBulkMessage(
                    message_id=uuid.uuid4(),
                    number_id=number_id,
                    payload_enc=base64.b64encode(sealed).decode(),
                )
                batch.append(make_envelope(command, tenant_id=tenant_id))
            await publisher.publish_many(batch)
    finally:
        await publisher.close()
    return started


async def _progress(pool: Any, tenant_id: uuid.UUID) -> tuple[int, int]:
    from majlis.db import tenant_transaction

    async with tenant_transaction(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE state = 'sent') AS sent,"
            " count(*) FILTER (WHERE state = 'failed') AS failed FROM outbound_sends"
        )
    assert row is not None
    return int(row["sent"]), int(row["failed"])


async def _figures(pool: Any, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The achieved rate over the middle 90 % of sends, and how many needed a second try."""
    from majlis.db import tenant_transaction

    async with tenant_transaction(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT count(*) AS n,"
            " percentile_disc(0.05) WITHIN GROUP (ORDER BY updated_at) AS t05,"
            " percentile_disc(0.95) WITHIN GROUP (ORDER BY updated_at) AS t95,"
            " min(updated_at) AS first, max(updated_at) AS last,"
            " count(*) FILTER (WHERE attempts > 1) AS retried"
            " FROM outbound_sends WHERE state = 'sent'"
        )
    assert row is not None
    async with tenant_transaction(pool, tenant_id) as conn:
        stuck = await conn.fetch(
            "SELECT state, attempts, transient_failures, error_code,"
            " extract(epoch FROM now() - updated_at) AS idle_s,"
            " extract(epoch FROM next_attempt_at - now()) AS due_in_s"
            " FROM outbound_sends WHERE state IN ('queued', 'sending') LIMIT 5"
        )
    span = (row["t95"] - row["t05"]).total_seconds() if row["n"] > 20 else 0.0
    return {
        "rate_mps": round(0.9 * row["n"] / span, 1) if span > 0 else None,
        "sent_span_s": round((row["last"] - row["first"]).total_seconds(), 1) if row["n"] else None,
        "retried": int(row["retried"]),
        "unsettled_sample": [
            {
                k: (round(float(v), 1) if k.endswith("_s") and v is not None else v)
                for k, v in r.items()
            }
            for r in stuck
        ],
    }


async def _run(
    name: str, env: dict[str, str], *, rate: int, count: int, target: float, tol: float
) -> dict[str, Any]:
    """One campaign at `rate` against a fresh simulator, broadcast and ingest."""
    with tempfile.TemporaryFile() as logs:
        return await _campaign(name, env, rate=rate, count=count, target=target, tol=tol, logs=logs)


async def _campaign(
    name: str,
    env: dict[str, str],
    *,
    rate: int,
    count: int,
    target: float,
    tol: float,
    logs: Any,
) -> dict[str, Any]:
    from majlis.db import create_pool
    from majlis.settings import load_settings

    sim_env = env | {
        "MAJLIS_GRAPHSIM_LATENCY_MS": str(META_LATENCY_MS),
        "MAJLIS_GRAPHSIM_THROUGHPUT_MPS": str(rate),
        "MAJLIS_GRAPHSIM_REQUIRE_TEMPLATES": "false",
        "MAJLIS_GRAPHSIM_WEBHOOK_MAX_BATCH": "1",
        "MAJLIS_GRAPHSIM_PAIR_BURST": "45",
    }
    settings = load_settings()
    tenant_id, number_id, _ = await _create_number(None if rate == 80 else rate)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=menv, stdout=asyncio.subprocess.DEVNULL, stderr=logs
        )
        for module, menv in (
            ("majlis.graphsim", sim_env),
            ("webhook_ingest", env),
            ("broadcast", env),
        )
    ]
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=2)
    sim = env["MAJLIS_GRAPH_API_URL"]
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"http://127.0.0.1:{env['MAJLIS_BROADCAST_PORT']}")
            await wait_ready(session, f"http://127.0.0.1:{env['MAJLIS_WEBHOOK_INGEST_PORT']}")
            async with session.get(f"{sim}/_sim/webhooks") as response:
                hooks_before = (await response.json())["delivered_updates"]
            dispatcher = processes[2].pid
            cpu_before, wall_before = cpu_seconds([dispatcher]), time.monotonic()
            publishing = asyncio.create_task(_publish(tenant_id, number_id, count))
            limit = count / rate * 3 + 60
            backlog, done_at = 0, None
            while time.monotonic() - wall_before < limit:
                await asyncio.sleep(1.0)
                depths = await queue_depths(settings, [*QUEUES, "inbox.statuses"])
                await _purge(settings, "inbox.statuses")
                backlog = max(backlog, depths["broadcast.events"])
                sent, failed = await _progress(pool, tenant_id)
                if done_at is None and sent + failed >= count:
                    done_at = time.monotonic()
                    cpu = (cpu_seconds([dispatcher]) - cpu_before) / (done_at - wall_before)
                if done_at is not None and not any(depths[q] for q in QUEUES):
                    break
            started = await publishing
            drained_at = time.monotonic()
            if done_at is None:  # out of time: the dispatcher's CPU over the whole window
                cpu = (cpu_seconds([dispatcher]) - cpu_before) / (drained_at - wall_before)
            async with session.get(f"{sim}/_sim/webhooks") as response:
                hooks = (await response.json())["delivered_updates"] - hooks_before
        sent, failed = await _progress(pool, tenant_id)
        figures = await _figures(pool, tenant_id)
        finished = done_at is not None
        elapsed = (done_at or drained_at) - started
        rate_ok = figures["rate_mps"] is not None and abs(figures["rate_mps"] - target) <= tol
        result = {
            "scenario": name,
            "sends": count,
            "sent": sent,
            "failed": failed,
            "all_final": finished,
            **figures,
            "target_rate_mps": f"{target:g} ± {tol:g}",
            "first_publish_to_last_send_s": round(elapsed, 1),
            "time_limit_s": round(limit),
            "dispatcher_cores": round(cpu, 2),
            "statuses_per_s": round(hooks / (drained_at - wall_before), 1),
            "status_backlog_max": backlog,
            "drained_after_last_send_s": round(drained_at - done_at, 1) if done_at else None,
            "target_met": finished and rate_ok and failed == 0,
        }
        if rate == 1000:
            result["target_met"] = result["target_met"] and bool(
                elapsed <= 110 and cpu <= 0.5 and drained_at - (done_at or 0) <= 10
            )
        else:
            result["target_met"] = result["target_met"] and figures["retried"] == 0
        return result
    finally:
        await pool.close()
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        logs.seek(0)
        errors = [
            line for line in logs.read().decode(errors="replace").splitlines() if "rror" in line
        ]
        if errors:
            print(f"# process errors (last 3): {errors[-3:]}", file=sys.stderr)
        await clean_up(None, tenant_id)


async def _purge(settings: Any, name: str) -> None:
    from majlis.messaging import Bus, queue_name

    bus = await Bus.connect(settings)
    try:
        channel = await bus.channel(publisher_confirms=False)
        queue = await channel.declare_queue(queue_name(settings.bus_prefix, name), passive=True)
        await queue.purge()
        await channel.close()
    finally:
        await bus.close()


async def main() -> None:
    env = _env()
    os.environ.update(env)
    runs = [
        ("dispatch 80 mps", 80, int(80 * PACING_SECONDS), 80.0, 1.6),
        ("dispatch 1,000 mps + status storm", 1000, RECIPIENTS, 1000.0, 50.0),
    ]
    try:
        for name, rate, count, target, tol in runs:
            result = await _run(name, env, rate=rate, count=count, target=target, tol=tol)
            print(json.dumps(result), flush=True)
    finally:
        await clean_up(env)


if __name__ == "__main__":
    asyncio.run(main())
