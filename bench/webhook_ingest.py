"""Benchmark S2: confirmed webhooks per second through webhook-ingest, beside a bare ceiling.

Not a test. Starts a real `python -m webhook_ingest` against the test database and RabbitMQ
(its own bus and Redis prefixes), as one worker process per core (`BENCH_INGEST_WORKERS`,
MAJLIS_WEBHOOK_INGEST_WORKERS: how a host of its own runs it; its CPU is the workers' sum),
with one tenant owning one active number, and next to it the
bare aiohttp app of `bench/ceiling.py` (HMAC check only). A load generator in a process of
its own (`bench/loadgen.py`) drives both with the same pre-signed ≈ 0.9 KB text-message webhooks,
every one with its own wamid:

1. a short closed-loop probe of each (64 connections, as fast as answers come back): the most
   either can do on this machine;
2. an open-loop run of each at a lower rate (Meta's 1,000/s per number, or ≈ 70 % of what
   the probe found if the ingest cannot sustain that) and at the S2 target rate (3,300/s),
   for `BENCH_DURATION_S` seconds each, latency measured from each request's scheduled send
   time. Runs go from gentle to harsh and wait for the servers and the broker to go idle in
   between, so an overload's backlog never spills into another measurement.

A 200 from the ingest should mean the broker confirmed the event, but a webhook for a number
nobody owns is answered 200 too, with nothing published. So each ingest run also reports the
ingest's own item counters (published / unrouted, from /metrics) and the events that reached
the bench's `inbox.events` queue; `target_met` requires them to account for every 200.

Prints one JSON line per measurement, then a one-line comparison. Exits 0 whether or not the
target is met (`target_met` says which); non-zero only if the benchmark could not run.
Removes the tenant, the bench prefix's queues and exchanges (with the events piled up in
them) and the bench prefix's Redis keys at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from majlis.testing.benchmarks import child_pids, clean_up, cpu_seconds, free_port

HERE = Path(__file__).resolve().parent
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
PROBE_S = float(os.environ.get("BENCH_PROBE_S", "3"))
# After the last scheduled request, stragglers get this long; the rest count as unfinished.
DRAIN_S = float(os.environ.get("BENCH_DRAIN_S", "3"))
TARGET_RATE = 3300.0
TARGET_P99_MS = 50.0
# The lower rate: Meta's ceiling for one business number, unless the probe finds the ingest
# cannot sustain it (then ≈ 70 % of what the probe found).
DEFAULT_LOW_RATE = 1000.0
WEBHOOK_PATH = "/webhooks/whatsapp"
INGEST = "webhook-ingest S2 confirmed"
CEILING = "ceiling: bare aiohttp HMAC"
PEER = "peer: pywa behind uvicorn"
# The peer's interpreter: bench/run.py makes this virtualenv (bench/peer-requirements.txt).
PEER_PYTHON = Path(os.environ.get("BENCH_PEER_PYTHON", HERE / ".peer-venv" / "bin" / "python"))
PEER_AVAILABLE = PEER_PYTHON.exists()
WORKERS = int(os.environ.get("BENCH_INGEST_WORKERS") or os.cpu_count() or 1)


def _meta_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


def _broker_pid() -> int | None:
    """RabbitMQ's Erlang VM, to report its CPU share (read from /proc, never signalled)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
            except OSError:
                continue
    return None


async def _create_tenant(phone_number_id: str, waba_id: str) -> uuid.UUID:
    """A tenant owning one active number, written as the app does (RLS, owner role)."""
    from majlis.crypto import FieldCipher, KeyRing
    from majlis.db import create_pool, tenant_transaction
    from majlis.settings import load_settings

    settings = load_settings()
    tenant_id = uuid.uuid4()
    cipher = FieldCipher(KeyRing.from_settings(settings))
    token = cipher.encrypt(
        "EAAbenchtoken", tenant_id=tenant_id, field="whatsapp_numbers.access_token"
    )
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1)
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(
                "INSERT INTO tenants (id, name, plan) VALUES ($1, $2, $3)",
                tenant_id,
                "Bench S2",
                "starter",
            )
        async with tenant_transaction(pool, tenant_id, "owner") as conn:
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc, status)"
                " VALUES ($1, $2, $3, $4, '+97143000000', $5, 'active')",
                tenant_id,
                uuid.uuid4(),
                phone_number_id,
                waba_id,
                token,
            )
    finally:
        await pool.close()
    return tenant_id


async def _queued_events() -> int:
    """Messages in the bench prefix's inbox.events queue (the ingest's events land there)."""
    from majlis.messaging import Bus, queue_name
    from majlis.settings import load_settings

    settings = load_settings()
    bus = await Bus.connect(settings)
    try:
        channel = await bus.channel(publisher_confirms=False)
        queue = await channel.declare_queue(
            queue_name(settings.bus_prefix, "inbox.events"), passive=True
        )
        count = queue.declaration_result.message_count
        await channel.close()
    finally:
        await bus.close()
    return int(count or 0)


async def _purge_bench_queues() -> None:
    """Empty the bench prefix's queues so every run starts from the same broker state."""
    from majlis.messaging import PLATFORM_QUEUES, Bus, queue_name
    from majlis.settings import load_settings

    settings = load_settings()
    bus = await Bus.connect(settings)
    try:
        channel = await bus.channel(publisher_confirms=False)
        for spec in PLATFORM_QUEUES:
            queue = await channel.declare_queue(
                queue_name(settings.bus_prefix, spec.name), passive=True
            )
            await queue.purge()
        await channel.close()
    finally:
        await bus.close()


async def _item_counts(base: str) -> dict[str, float]:
    """The ingest's own count of message items by outcome (published, unrouted, ...)."""
    counts: dict[str, float] = {}
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("majlis_webhook_items_total{") and 'kind="message"' in line:
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0.0) + float(value)
    return counts


async def _wait_http_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError(f"process exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


async def _wait_port_open(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise RuntimeError(f"a bench server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("the ceiling did not start listening")


async def _settle(
    pids: list[int | None], *, quiet_cores: float = 0.15, limit_s: float = 8.0
) -> None:
    """Wait (bounded) until the servers and the broker are idle again, so runs do not overlap."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        await asyncio.sleep(0.5)
        if (cpu_seconds(pids) - before) / 0.5 < quiet_cores:
            return


async def _load(
    url: str,
    *,
    rate: float,
    duration: float,
    phone_number_id: str,
    waba_id: str,
    watch: dict[str, list[int] | int | None],
) -> dict[str, Any]:
    """Run the load generator in its own process and return its figures."""
    args = [
        sys.executable,
        str(HERE / "loadgen.py"),
        f"--url={url}",
        f"--rate={rate}",
        f"--duration={duration}",
        f"--connections={CONNECTIONS}",
        "--warmup=1",
        f"--warmup-rate={min(500.0, rate) if rate > 0 else 500.0}",
        f"--drain={DRAIN_S}",
        f"--phone-number-id={phone_number_id}",
        f"--waba-id={waba_id}",
        f"--tag={uuid.uuid4().hex}",
    ]
    for name, pids in watch.items():
        listed = [pids] if isinstance(pids, int) else pids or []
        if listed:
            args.append(f"--watch={name}={','.join(map(str, listed))}")
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        # Bounded: body building, 1 s warm-up, the window, the drain, and slack.
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=duration + 45)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed: {stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


def _line(scenario: str, figures: dict[str, Any], **extra: Any) -> dict[str, Any]:
    line = {"scenario": scenario, **extra, **figures}
    print(json.dumps(line), flush=True)
    return line


def _met(line: dict[str, Any]) -> bool:
    """S2's bar at the offered rate: every request confirmed (really published), p99 < 50 ms."""
    return bool(
        line["offered_per_s"] >= TARGET_RATE
        and line["confirmed"] == line["requests"]
        and line["unfinished"] == 0
        and line["items_unrouted"] == 0
        and line["events_queued"] >= line["answered_200_incl_warmup"]
        and line["p99_ms"] < TARGET_P99_MS
    )


async def main() -> None:
    ingest_port, ceiling_port, peer_port = free_port(), free_port(), free_port()
    tag = uuid.uuid4().hex[:8]
    env = os.environ | {
        "MAJLIS_WEBHOOK_INGEST_PORT": str(ingest_port),
        "MAJLIS_WEBHOOK_INGEST_WORKERS": str(WORKERS),
        "MAJLIS_LOG_LEVEL": "warning",
        "MAJLIS_REDIS_PREFIX": f"majlis-bench:{tag}:",
        "MAJLIS_BUS_PREFIX": f"bench.{tag}.",
    }
    os.environ.update(env)
    phone_number_id, waba_id = _meta_id(), _meta_id()
    ingest_url = f"http://127.0.0.1:{ingest_port}{WEBHOOK_PATH}"
    ceiling_url = f"http://127.0.0.1:{ceiling_port}{WEBHOOK_PATH}"
    peer_url = f"http://127.0.0.1:{peer_port}{WEBHOOK_PATH}"
    peer: asyncio.subprocess.Process | None = None
    probe_peer: dict[str, Any] | None = None
    peer_at_low: dict[str, Any] | None = None
    processes: list[asyncio.subprocess.Process] = []
    tenant_id: uuid.UUID | None = None
    ingest_log = tempfile.NamedTemporaryFile(prefix="bench-ingest-", suffix=".log")  # noqa: SIM115
    started = time.monotonic()
    try:
        tenant_id = await _create_tenant(phone_number_id, waba_id)
        ingest = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "webhook_ingest",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=ingest_log,
        )
        processes.append(ingest)
        ceiling = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "ceiling.py"),
            str(ceiling_port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        processes.append(ceiling)
        if PEER_AVAILABLE:
            peer = await asyncio.create_subprocess_exec(
                str(PEER_PYTHON),
                str(HERE / "peer_pywa.py"),
                str(peer_port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            processes.append(peer)
        else:
            print(f"# no peer: {PEER_PYTHON} is missing (bench/run.py makes it)", flush=True)
        await _wait_http_ready(f"http://127.0.0.1:{ingest_port}/readyz", ingest)
        await _wait_port_open(ceiling_port, ceiling)
        if peer is not None:
            await _wait_port_open(peer_port, peer)
        broker = _broker_pid()
        workers = child_pids(ingest.pid) if WORKERS > 1 else [ingest.pid]
        if len(workers) != WORKERS:
            raise RuntimeError(f"webhook-ingest runs {len(workers)} workers, not {WORKERS}")
        ingest_base = f"http://127.0.0.1:{ingest_port}"
        targets: dict[str, tuple[str, dict[str, list[int] | int | None]]] = {
            INGEST: (ingest_url, {"server": workers, "broker": broker}),
            CEILING: (ceiling_url, {"server": ceiling.pid, "broker": broker}),
            PEER: (peer_url, {"server": peer.pid if peer else None}),
        }

        async def measure(name: str, rate: float, duration: float, label: str) -> dict[str, Any]:
            url, watch = targets[name]
            queued_before, items_before = 0, {}
            if name == INGEST:
                queued_before = await _queued_events()
                items_before = await _item_counts(ingest_base)
            figures = await _load(
                url,
                rate=rate,
                duration=duration,
                phone_number_id=phone_number_id,
                waba_id=waba_id,
                watch=watch,
            )
            extra: dict[str, Any] = {"run": label}
            if name == INGEST:
                extra["workers"] = WORKERS
                # Proof that the 200s were publishes: the ingest's own item counters and the
                # events that reached the bench's inbox.events queue. Both include the
                # warm-up and any request still in flight when the load generator gave up.
                await asyncio.sleep(0.5)
                items = await _item_counts(ingest_base)
                extra["answered_200_incl_warmup"] = figures.pop("all_200")
                extra["items_published"] = round(
                    items.get("published", 0.0) - items_before.get("published", 0.0)
                )
                extra["items_unrouted"] = round(
                    items.get("unrouted", 0.0) - items_before.get("unrouted", 0.0)
                )
                extra["events_queued"] = await _queued_events() - queued_before
                await _purge_bench_queues()
            else:
                figures.pop("all_200")
            line = _line(name, figures, **extra)
            await _settle([*workers, ceiling.pid, peer.pid if peer else None, broker])
            return line

        # Gentle to harsh, so that a run the ingest cannot keep up with (its backlog, the
        # broker's work) comes last and cannot spill into another measurement.
        probe_ceiling = await measure(CEILING, 0, PROBE_S, "probe: closed loop, max")
        probe_ingest = await measure(INGEST, 0, PROBE_S, "probe: closed loop, max")
        if peer is not None:
            probe_peer = await measure(PEER, 0, PROBE_S, "probe: closed loop, max")
        capacity = float(probe_ingest["confirmed_per_s"])
        low_rate = float(
            os.environ.get("BENCH_LOW_RATE")
            or min(DEFAULT_LOW_RATE, max(100.0, (capacity * 0.7) // 50 * 50))
        )
        ceiling_at_low = await measure(CEILING, low_rate, DURATION_S, "lower rate")
        at_low = await measure(INGEST, low_rate, DURATION_S, "lower rate")
        if peer is not None:
            peer_at_low = await measure(PEER, low_rate, DURATION_S, "lower rate")
        ceiling_at_target = await measure(CEILING, TARGET_RATE, DURATION_S, "target rate")
        at_target = await measure(INGEST, TARGET_RATE, DURATION_S, "target rate")
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
        if processes and processes[0].returncode not in (0, -15):
            ingest_log.seek(0)
            tail = ingest_log.read().decode(errors="replace")[-3000:]
            print(f"# webhook-ingest exited with {processes[0].returncode}:\n{tail}", flush=True)
        ingest_log.close()
        await clean_up(tenant_id=tenant_id)

    met = _met(at_target)
    unrouted = sum(line["items_unrouted"] for line in (probe_ingest, at_low, at_target))
    summary = {
        "scenario": "webhook-ingest S2 summary",
        "target": f">= {TARGET_RATE:.0f} confirmed/s with p99 < {TARGET_P99_MS:.0f} ms",
        "target_met": met,
        "ingest_workers": WORKERS,
        "ingest_max_per_s": probe_ingest["confirmed_per_s"],
        "ceiling_max_per_s": probe_ceiling["confirmed_per_s"],
        "ingest_share_of_ceiling": round(
            probe_ingest["confirmed_per_s"] / max(1.0, probe_ceiling["confirmed_per_s"]), 3
        ),
        # The peer's 200s are answers, not handled messages (see bench/peer_pywa.py).
        "peer_max_per_s": probe_peer["confirmed_per_s"] if probe_peer else None,
        "peer_p99_ms_at_lower_rate": peer_at_low["p99_ms"] if peer_at_low else None,
        "ceiling_over_peer": round(
            probe_ceiling["confirmed_per_s"] / max(1.0, probe_peer["confirmed_per_s"]), 2
        )
        if probe_peer
        else None,
        "ingest_over_peer": round(
            probe_ingest["confirmed_per_s"] / max(1.0, probe_peer["confirmed_per_s"]), 2
        )
        if probe_peer
        else None,
        "unrouted_200s": unrouted,
        "total_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary), flush=True)

    def brief(line: dict[str, Any]) -> str:
        late = f", {line['unfinished']} unanswered" if line["unfinished"] else ""
        bad = f", {line['non_200']} non-200" if line["non_200"] else ""
        return (
            f"{line['confirmed_per_s']:.0f}/s p50 {line['p50_ms']} ms"
            f" p99 {line['p99_ms']} ms{bad}{late}"
        )

    print(
        f"S2 at {TARGET_RATE:.0f}/s offered: ingest {brief(at_target)}"
        f" | ceiling {brief(ceiling_at_target)}."
        f" At {low_rate:.0f}/s: ingest {brief(at_low)} | ceiling {brief(ceiling_at_low)}."
        f" Closed-loop max ({CONNECTIONS} connections): ingest"
        f" {probe_ingest['confirmed_per_s']:.0f}/s vs ceiling"
        f" {probe_ceiling['confirmed_per_s']:.0f}/s"
        f" ({summary['ingest_share_of_ceiling']:.1%})."
        + (
            f" WARNING: {unrouted} webhooks got a 200 without a publish (the bench number no"
            " longer routed: was the test database recreated during the run?)."
            if unrouted
            else ""
        )
        + f" target_met: {'true' if met else 'false'}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
