"""webhook-ingest as several worker processes on one port (MAJLIS_WEBHOOK_INGEST_WORKERS).

The real service as a subprocess: both workers answer on the one port, /metrics of either
counts the requests of both, a second instance cannot take the port, SIGTERM stops them all,
and a worker that dies takes the others down with it (so an orchestrator restarts the whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from majlis.testing.benchmarks import child_pids, free_port

REQUESTS = 40


def _body() -> bytes:
    """A text message for a number no tenant has: acknowledged and counted as unrouted."""
    pnid = str(10**14 + secrets.randbelow(9 * 10**14))
    message = {"from": "971501234567", "id": "wamid." + secrets.token_hex(8),
               "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}}  # fmt: skip
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "971500000000", "phone_number_id": pnid},
             "messages": [message]}  # fmt: skip
    entry = {"id": "310000000000001", "changes": [{"field": "messages", "value": value}]}
    return orjson.dumps({"object": "whatsapp_business_account", "entry": [entry]})


class Ingest:
    """One `python -m webhook_ingest` with its log in a file."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def workers(self) -> list[int]:
        """The supervisor's children (its workers)."""
        return child_pids(self.process.pid)

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log.read_text(encoding="utf-8").splitlines():
            try:
                found.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                continue
        return found


async def _start(port: int, workers: int, log: Path) -> Ingest:
    # Its temporary files (the workers' metrics) in the test's folder: a supervisor killed
    # with SIGKILL cannot remove them itself.
    env = {**os.environ, "MAJLIS_WEBHOOK_INGEST_PORT": str(port), "TMPDIR": str(log.parent),
           "MAJLIS_WEBHOOK_INGEST_WORKERS": str(workers), "MAJLIS_LOG_FORMAT": "json"}  # fmt: skip
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "webhook_ingest", env=env, stdout=out, stderr=out
        )
    return Ingest(process, port, log)


async def _ready(ingest: Ingest, http: aiohttp.ClientSession, workers: int) -> None:
    try:
        await _wait_ready(ingest, http, workers)
    except TimeoutError:
        text = ingest.log.read_text()
        raise AssertionError([line for line in text.splitlines() if "service." in line]) from None


async def _wait_ready(ingest: Ingest, http: aiohttp.ClientSession, workers: int) -> None:
    async with asyncio.timeout(30):
        while True:
            assert ingest.process.returncode is None, ingest.log.read_text()
            try:
                async with http.get(f"{ingest.url}/readyz") as answer:
                    listening = {
                        line.get("worker")
                        for line in ingest.lines()
                        if line.get("event") == "service.listening"
                    }
                    if answer.status == 200 and listening == set(range(workers)):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def _stop(ingest: Ingest) -> int:
    if ingest.process.returncode is None:
        ingest.process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(ingest.process.wait(), 30)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A new connection per request, so the kernel spreads them over the workers.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


@pytest.fixture
async def two_workers(http: aiohttp.ClientSession) -> AsyncIterator[Ingest]:
    with tempfile.TemporaryDirectory() as folder:
        ingest = await _start(free_port(), 2, Path(folder) / "ingest.log")
        try:
            await _ready(ingest, http, 2)
            yield ingest
        finally:
            workers = ingest.workers()
            if ingest.process.returncode is None:
                ingest.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(ingest.process.wait(), 20)
                except TimeoutError:
                    ingest.process.kill()
                    await ingest.process.wait()
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_two_workers_share_the_port_and_their_metrics(
    two_workers: Ingest, http: aiohttp.ClientSession, settings: Any
) -> None:
    secret = settings.meta_app_secret.get_secret_value().encode()
    for _ in range(REQUESTS):
        body = _body()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        async with http.post(
            f"{two_workers.url}/webhooks/whatsapp",
            data=body,
            headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
        ) as answer:
            assert answer.status == 200, await answer.text()
    served = {
        line.get("worker")
        for line in two_workers.lines()
        if line.get("event") == "http.request" and line.get("path") == "/webhooks/whatsapp"
    }
    assert served == {0, 1}  # 40 connections, hashed over two sockets
    for _ in range(4):  # whichever worker answers, it counts both
        async with http.get(f"{two_workers.url}/metrics") as answer:
            text = await answer.text()
        unrouted = _metric(text, "majlis_webhook_items_total", kind="message", outcome="unrouted")
        assert unrouted == REQUESTS
        posts = _metric(text, "majlis_http_requests_total", method="POST", status="200")
        assert posts == REQUESTS


async def test_a_second_instance_cannot_take_the_port(
    two_workers: Ingest, http: aiohttp.ClientSession
) -> None:
    second = await _start(two_workers.port, 2, two_workers.log.with_name("second.log"))
    assert await asyncio.wait_for(second.process.wait(), 30) != 0
    assert "Address already in use" in second.log.read_text()
    async with http.get(f"{two_workers.url}/healthz") as answer:
        assert answer.status == 200
    assert len(two_workers.workers()) == 2


async def test_sigterm_stops_every_worker(two_workers: Ingest) -> None:
    workers = two_workers.workers()
    assert await _stop(two_workers) == 0
    for pid in workers:
        assert not _alive(pid)
    stopped = [line for line in two_workers.lines() if line.get("event") == "service.stopped"]
    assert {line.get("worker") for line in stopped} >= {0, 1}


async def test_a_dead_worker_takes_the_service_down(two_workers: Ingest) -> None:
    first, second = two_workers.workers()
    os.kill(first, signal.SIGKILL)
    assert await asyncio.wait_for(two_workers.process.wait(), 30) == 1
    assert not _alive(second)
    exited = [line for line in two_workers.lines() if line.get("event") == "service.worker_exited"]
    assert len(exited) == 1


async def test_workers_do_not_outlive_a_killed_supervisor(two_workers: Ingest) -> None:
    assert len(list(two_workers.log.parent.glob("majlis-webhook_ingest-metrics-*"))) == 1
    workers = two_workers.workers()
    two_workers.process.kill()  # SIGKILL: nothing of ours runs in the supervisor
    await two_workers.process.wait()
    async with asyncio.timeout(20):
        while any(_alive(pid) for pid in workers):  # noqa: ASYNC110  # polls other processes
            await asyncio.sleep(0.05)
