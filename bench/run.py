"""`make bench`: run every benchmark, print one table with the targets, keep it in docs/.

Each scenario runs in its own process (never sharing an event loop or a pool) and prints JSON
lines, echoed here as they come. At the end one table: benchmark, figure, target (from
../shared/reference/performance.md and the issues), met or not, and the machine it ran on
(CPU, cores, RAM, Python, PostgreSQL, Redis, RabbitMQ). The same report goes to
docs/benchmarks.md with the date and the command.

pywa (the peer in the ingest benchmark) lives in a virtualenv of its own, `bench/.peer-venv`,
made here from bench/peer-requirements.txt the first time: never a dependency of the services.
Set BENCH_NOTE to add a line to the report (e.g. "busy machine: other jobs were running").
Exits 1 if a benchmark could not run; a target not met is a figure, not a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPORT = HERE.parent / "docs" / "benchmarks.md"
PEER_VENV = HERE / ".peer-venv"
SCENARIOS = [
    "webhook_ingest.py",
    "gateway_auth.py",
    "inbox_list.py",
    "broadcast_dispatch.py",
    "bot_replies.py",
    "audit_append.py",
    "rate_limiter.py",
    "micro.py",
]

Row = tuple[str, str, str, str]  # benchmark, figure, target, met


def _peer_venv() -> None:
    """pywa + FastAPI + uvicorn in bench/.peer-venv (skipped with a note if it cannot be made)."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".installed"
    wanted = (HERE / "peer-requirements.txt").read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", str(HERE / "peer-requirements.txt")],
            check=True,
        )  # fmt: skip
        stamp.write_text(wanted)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"# the pywa peer is unavailable ({error}); the ingest bench runs without it")


def _run(scenario: str) -> tuple[int, list[dict[str, Any]]]:
    print(f"# {scenario}", flush=True)
    process = subprocess.Popen(
        [sys.executable, str(HERE / scenario)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines: list[dict[str, Any]] = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return process.wait(), lines


def _met(value: object) -> str:
    if value is True:
        return "met"
    return "not met" if value is False else "n/a"


def _find(lines: list[dict[str, Any]], scenario: str, **match: Any) -> dict[str, Any] | None:
    for line in lines:
        if line.get("scenario") == scenario and all(line.get(k) == v for k, v in match.items()):
            return line
    return None


def _ingest(lines: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    summary = _find(lines, "webhook-ingest S2 summary")
    at_target = _find(lines, "webhook-ingest S2 confirmed", run="target rate")
    if summary is None or at_target is None:
        return rows
    rows.append(
        (
            f"webhook ingest S2 ({summary.get('ingest_workers', 1)} worker processes),"
            " confirmed, 3,300/s offered",
            f"{at_target['confirmed_per_s']:.0f}/s, p50 {at_target['p50_ms']} ms,"
            f" p99 {at_target['p99_ms']} ms",
            ">= 3,300/s, p99 < 50 ms",
            _met(summary["target_met"]),
        )
    )
    rows.append(
        (
            "webhook ingest, closed-loop max",
            f"{summary['ingest_max_per_s']:.0f}/s"
            f" ({summary['ingest_share_of_ceiling']:.0%} of the ceiling)",
            "(compare with the ceiling)",
            "n/a",
        )
    )
    rows.append(
        (
            "ceiling: bare aiohttp HMAC, closed-loop max",
            f"{summary['ceiling_max_per_s']:.0f}/s",
            "(the ceiling)",
            "n/a",
        )
    )
    if summary.get("peer_max_per_s") is not None:
        rows.append(
            (
                "peer: pywa 4.5 behind uvicorn, closed-loop max",
                f"{summary['peer_max_per_s']:.0f}/s answered; ceiling/peer"
                f" {summary['ceiling_over_peer']}x, ingest/peer {summary['ingest_over_peer']}x",
                "(the peer; its 200 comes before its handler)",
                "n/a",
            )
        )
    return rows


def _gateway(lines: list[dict[str, Any]]) -> list[Row]:
    line = _find(lines, "gateway authenticated GET /api/v1/me")
    if line is None:
        return []
    return [
        (
            "gateway, authenticated GET /api/v1/me",
            f"{line['requests_per_s']:.0f} req/s, p50 {line['p50_ms']} ms,"
            f" p99 {line['p99_ms']} ms, {line['errors']} errors",
            "(no target set; informational)",
            "n/a",
        )
    ]


def _inbox(lines: list[dict[str, Any]]) -> list[Row]:
    line = _find(lines, "conversation list, first page, through the gateway")
    if line is None:
        return []
    met = line["requests_per_s"] >= 2000 and line["p99_ms"] < 50 and not line["errors"]
    rows: list[Row] = [
        (
            "inbox: conversation list page 1, via gateway",
            f"{line['requests_per_s']:.0f} req/s, p99 {line['p99_ms']} ms",
            ">= 2,000 req/s, p99 < 50 ms",
            _met(met),
        )
    ]
    cpu = line.get("cpu_us_per_request")
    if cpu:
        rows.append(
            (
                "inbox: conversation list, CPU per request",
                f"{cpu['all']:.0f} us: gateway {cpu['gateway']:.0f}, inbox {cpu['inbox']:.0f},"
                f" PostgreSQL {cpu['postgres']:.0f}, Redis {cpu['redis']:.0f},"
                f" load loop {cpu['load']:.0f}; {line['machine_busy_cores']} cores busy",
                "(2,000 req/s on 2 cores leaves <= 1,000 us)",
                "n/a",
            )
        )
    return rows


def _broadcast(lines: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    pacing = _find(lines, "dispatch 80 mps")
    if pacing is not None:
        rows.append(
            (
                "broadcast pacing, 80 mps",
                f"{pacing.get('rate_mps')} mps, {pacing.get('retried')} retried (130429)",
                "80 ± 1.6 mps, no 130429",
                _met(pacing["target_met"]),
            )
        )
    storm = _find(lines, "dispatch 1,000 mps + status storm")
    if storm is not None:
        rows.append(
            (
                f"broadcast {storm['sends']:,} recipients at 1,000 mps + status storm",
                (
                    f"{storm.get('rate_mps')} mps, last send after"
                    f" {storm['first_publish_to_last_send_s']} s"
                    if storm["all_final"]
                    else f"{storm.get('rate_mps')} mps, only {storm['sent']:,} sent (and"
                    f" {storm['failed']:,} failed) within the bench's"
                    f" {storm.get('time_limit_s')} s"
                )
                + f", dispatcher {storm['dispatcher_cores']} cores,"
                f" {storm['statuses_per_s']} statuses/s"
                + (
                    f", drained {storm['drained_after_last_send_s']} s after"
                    if storm["all_final"]
                    else ""
                ),
                "1,000 ± 50 mps, <= 110 s, <= 0.5 core, drained <= 10 s",
                _met(storm["target_met"]),
            )
        )
    return rows


def _bot(lines: list[dict[str, Any]]) -> list[Row]:
    line = _find(lines, "end to end: inbound webhook to bot reply (S3)")
    if line is None:
        return []
    return [
        (
            f"end to end bot reply, {line['offered_per_s']:g}/s offered",
            f"{line['replies_per_s']}/s, p50 {line['p50_ms']} ms, p99 {line['p99_ms']} ms,"
            f" {line['lost']} lost, {line['duplicated']} duplicated"
            f" ({line['redelivered']} redelivered)",
            "1,000/s, p50 < 15 ms, p99 < 100 ms, 0 lost/dup",
            _met(line["target_met"]),
        )
    ]


def _audit(lines: list[dict[str, Any]]) -> list[Row]:
    line = _find(lines, "audit append with hash chain (writer role, direct)")
    if line is None:
        return []
    return [
        (
            "audit appends, hash chain (batched)",
            f"{line['events_per_s']:.0f}/s; one per tx {line['single_event_tx_per_s']:.0f}/s,"
            f" consumer path {line['consumer_path_per_s']:.0f}/s",
            f">= {line['target_per_s']:,}/s",
            _met(line["target_met"]),
        )
    ]


def _limiter(lines: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for line in lines:
        if str(line.get("scenario", "")).startswith("rate limiter S6"):
            exact = f", over-granted {line['over_granted']}" if "over_granted" in line else ""
            rows.append(
                (
                    str(line["scenario"]),
                    f"{line['decisions_per_s']}/s, p50 {line['p50_ms']} ms,"
                    f" p99 {line['p99_ms']} ms{exact}",
                    str(line["target"]),
                    _met(line["target_met"]),
                )
            )
    return rows


def _micro(lines: list[dict[str, Any]]) -> list[Row]:
    line = _find(lines, "hot-path micro-benchmarks S7")
    if line is None:
        return []
    labels = {
        "hmac_0_6kb": "HMAC 0.6 KB",
        "hmac_2kb": "HMAC 2 KB",
        "json_parse": "JSON parse",
        "validation": "validation",
        "aes_gcm_encrypt_2kb": "AES-GCM encrypt 2 KB",
        "aes_gcm_decrypt_2kb": "AES-GCM decrypt 2 KB",
        "tenant_transaction": "tenant transaction (wall)",
        "confirmed_publish": "confirmed publish, 100 in flight (wall)",
    }
    figures, targets = line["us_per_call"], line["targets_us"]
    return [
        (
            "micro S7, " + label,
            f"{figures[key]} us",
            f"<= {targets[key]:g} us",
            _met(figures[key] <= targets[key]),
        )
        for key, label in labels.items()
    ]


ROWS: dict[str, Callable[[list[dict[str, Any]]], list[Row]]] = {
    "webhook_ingest.py": _ingest,
    "gateway_auth.py": _gateway,
    "inbox_list.py": _inbox,
    "broadcast_dispatch.py": _broadcast,
    "bot_replies.py": _bot,
    "audit_append.py": _audit,
    "rate_limiter.py": _limiter,
    "micro.py": _micro,
}


async def _server_versions() -> dict[str, str]:
    """PostgreSQL, Redis and RabbitMQ versions of the servers the benchmarks used."""
    import aiormq
    import redis.asyncio as aioredis

    from majlis.db.pool import connect
    from majlis.settings import load_settings

    settings = load_settings()
    versions = {"PostgreSQL": "?", "Redis": "?", "RabbitMQ": "?"}
    try:
        conn = await connect(settings.database_admin_url.get_secret_value())
        versions["PostgreSQL"] = str(await conn.fetchval("SHOW server_version"))
        await conn.close()
    except (OSError, ValueError) as error:
        versions["PostgreSQL"] = f"? ({type(error).__name__})"
    try:
        client = aioredis.from_url(settings.redis_url.get_secret_value())
        versions["Redis"] = str((await client.info("server"))["redis_version"])
        await client.aclose()
    except (OSError, ValueError) as error:
        versions["Redis"] = f"? ({type(error).__name__})"
    try:
        amqp = await aiormq.connect(settings.amqp_url.get_secret_value())
        version = amqp.server_properties.get("version", b"?")
        versions["RabbitMQ"] = version.decode() if isinstance(version, bytes) else str(version)
        await amqp.close()
    except (OSError, ValueError, aiormq.exceptions.AMQPError) as error:
        versions["RabbitMQ"] = f"? ({type(error).__name__})"
    return versions


def _machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "load average at the end (1/5/15 min)": load,
    }


def _report(rows: list[Row], machine: dict[str, str], failed: list[str], started: str) -> str:
    note = os.environ.get("BENCH_NOTE", "")
    lines = [
        "# Benchmarks",
        "",
        "The last report of `make bench` (kept by `bench/run.py`; re-run it to replace it).",
        "Targets come from ../shared/reference/performance.md and the issues (4-7, 10).",
        "",
        f"- date: {started} (UTC)",
        "- command: `make bench`",
    ]
    if note:
        lines.append(f"- note: {note}")
    lines += ["", "## Machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in machine.items()]
    lines += [
        "",
        "## Results",
        "",
        "| benchmark | figure | target | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {b} | {f} | {t} | {m} |" for b, f, t, m in rows]
    if failed:
        lines += ["", "Could not run: " + ", ".join(failed)]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run each scenario, then print and keep the one table."""
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    _peer_venv()
    rows: list[Row] = []
    failed: list[str] = []
    for scenario in SCENARIOS:
        code, lines = _run(scenario)
        if code != 0:
            failed.append(scenario)
        rows += ROWS[scenario](lines)
    machine = _machine() | asyncio.run(_server_versions())
    report = _report(rows, machine, failed, started)
    print("\n" + report, flush=True)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(report, encoding="utf-8")
    print(f"# written to {REPORT.relative_to(HERE.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
