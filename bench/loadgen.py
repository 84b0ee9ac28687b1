"""Open-loop load generator for signed WhatsApp webhooks (a benchmark helper, not a test).

Run by `bench/webhook_ingest.py` in a process of its own, so it never shares the event loop of
the server it measures. It builds every request (unique wamid, HMAC-SHA256 signature, raw
HTTP/1.1 bytes) before the clock starts, so the run itself does no crypto and no JSON.

Open loop (`--rate R`): request i of the window is scheduled at `start + i / R`, whatever
happened to the earlier ones; a fixed set of keep-alive connections carries them (one request
in flight per connection), and a request that finds no free connection waits for one.
Latency is measured from the *scheduled* time (wrk2's correction for coordinated omission), so
waiting for a connection counts. Closed loop (`--rate 0`): every connection sends its next
request as soon as the previous answer arrived, to find the maximum throughput.

The client speaks just enough HTTP/1.1 over asyncio protocols (status line, Content-Length or
chunked) to cost a few tens of microseconds per request: a full client such as aiohttp's would
take ≈ 150 µs per request of the same two cores the server needs.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import time
from collections import deque
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import uvloop

FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/webhooks/message__text.json"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def webhook_bodies(count: int, phone_number_id: str, waba_id: str, tag: str) -> list[bytes]:
    """`count` inbound text-message webhooks, compact and ASCII-escaped as Meta sends them.

    Each has its own wamid and a ≈ 0.9 KB body (the fixture's Arabic text twice, a number).
    """
    template = json.loads(FIXTURE.read_text(encoding="utf-8"))
    entry = template["entry"][0]
    entry["id"] = waba_id
    value = entry["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    message = value["messages"][0]
    text = message["text"]["body"]
    seed = hashlib.sha256(tag.encode()).digest()[:6]
    bodies = []
    for i in range(count):
        # A wamid of the usual length and alphabet, unique per request and per run.
        raw = b"\x15\x02\x00\x12\x18\x14" + seed + i.to_bytes(8, "big") + b"\x00" * 6
        message["id"] = "wamid.HBgMOTcxNTAxMjM0NTY3" + base64.b64encode(raw).decode()
        message["timestamp"] = str(1_757_600_000 + i // 50)
        message["text"]["body"] = f"{text} {text} #{i}"
        bodies.append(json.dumps(template, separators=(",", ":")).encode())
    return bodies


def signed_requests(url: str, bodies: list[bytes], secret: str) -> list[bytes]:
    """The complete HTTP/1.1 request bytes for each body, signed like Meta signs them."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "User-Agent: facebookexternalua\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    requests = []
    for body in bodies:
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        tail = f"X-Hub-Signature-256: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        requests.append(head + tail.encode() + body)
    return requests


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, generator: _Generator) -> None:
        self._generator = generator
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._header_end = -1
        self._length = -1  # body length; -2 = chunked
        self._status = 0
        self.scheduled = 0.0
        self.sent = 0.0
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast("asyncio.Transport", transport)

    def send(self, request: bytes, scheduled: float) -> None:
        assert self._transport is not None
        self.scheduled = scheduled
        self.sent = time.perf_counter()
        self.busy = True
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._header_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self._header_end = end + 4
            self._status = int(head[9:12])
            mark = head.find(b"\r\ncontent-length:")
            if mark >= 0:
                stop = head.find(b"\r\n", mark + 2)
                self._length = int(head[mark + 17 : stop if stop >= 0 else None])
            elif b"transfer-encoding: chunked" in head:
                self._length = -2
            else:
                self._length = 0
        if self._length >= 0:
            total = self._header_end + self._length
            if len(buffer) < total:
                return
        else:
            end = buffer.find(b"0\r\n\r\n", self._header_end)
            if end < 0:
                return
            total = end + 5
        del buffer[:total]
        status, self._header_end, self._length = self._status, -1, -1
        self.busy = False
        self._generator.completed(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self._generator.failed(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Generator:
    """Hands scheduled requests to free connections and records what came back."""

    def __init__(self, requests: list[bytes]) -> None:
        self._requests = requests
        self._next = 0
        self._idle: deque[_Connection] = deque()
        self._waiting: deque[float] = deque()  # scheduled times without a free connection
        self.closed_loop_until = 0.0  # closed loop: keep re-sending until this time
        self.window_start = float("inf")
        self.outstanding = 0
        self.drained = asyncio.Event()
        # Of requests scheduled at or after window_start:
        self.latencies: list[float] = []  # from the scheduled time, 200s only
        self.service_times: list[float] = []  # from the moment the bytes were written, 200s only
        self.send_lags: list[float] = []  # scheduled -> written (waiting for a connection)
        self.statuses: dict[int, int] = {}
        self.failures = 0
        self.last_done = 0.0
        self.all_200 = 0  # warm-up included

    def add(self, connection: _Connection) -> None:
        self._idle.append(connection)

    def dispatch(self, scheduled: float) -> None:
        self.outstanding += 1
        self.drained.clear()
        while self._idle:
            connection = self._idle.popleft()
            if not connection.closed:
                self._send(connection, scheduled)
                return
        self._waiting.append(scheduled)

    def _send(self, connection: _Connection, scheduled: float) -> None:
        request = self._requests[self._next % len(self._requests)]
        self._next += 1
        connection.send(request, scheduled)
        if scheduled >= self.window_start:
            self.send_lags.append(connection.sent - scheduled)

    def completed(self, connection: _Connection, status: int) -> None:
        now = time.perf_counter()
        if status == 200:
            self.all_200 += 1
        if connection.scheduled >= self.window_start:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.latencies.append(now - connection.scheduled)
                self.service_times.append(now - connection.sent)
            self.last_done = now
        self._finish()
        if now < self.closed_loop_until:
            self.dispatch(now)
        self._release(connection)

    def failed(self, connection: _Connection) -> None:
        if connection.scheduled >= self.window_start:
            self.failures += 1
            self.last_done = time.perf_counter()
        self._finish()

    def _finish(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self.drained.set()

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            return
        if self._waiting:
            self._send(connection, self._waiting.popleft())
        else:
            self._idle.append(connection)

    def abandon_waiting(self) -> int:
        """Forget requests still waiting for a connection; returns how many there were."""
        count = len(self._waiting)
        self._waiting.clear()
        return count


def _cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of processes, threads included (0 for any that is gone)."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / _CLK_TCK, system / _CLK_TCK


def _machine_ticks() -> tuple[int, int, int]:
    """(busy, idle, steal) clock ticks of the whole machine, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0, 0
    idle = values[3] + values[4]
    steal = values[7] if len(values) > 7 else 0
    busy = sum(values[:8]) - idle - steal
    return busy, idle, steal


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _open_loop(generator: _Generator, rate: float, start: float, count: int) -> None:
    """Schedule `count` requests at `start + i / rate`, however the earlier ones fared."""
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            generator.dispatch(start + sent / rate)
            sent += 1
        # uvloop timers tick in milliseconds: a 1 ms sleep keeps the lag below that
        # without spinning a core that the server needs.
        await asyncio.sleep(0.001)


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * fraction + 0.5) - 1))]


def _ms(value: float) -> float:
    return round(value * 1000, 2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, measure one window, drain (bounded) and summarise."""
    secret = os.environ["MAJLIS_META_APP_SECRET"]
    rate, duration = args.rate, args.duration
    window_count = int(rate * duration) if rate > 0 else 0
    warmup_count = int(args.warmup_rate * args.warmup)
    pool_size = max(window_count + warmup_count, 5000)
    bodies = webhook_bodies(pool_size, args.phone_number_id, args.waba_id, args.tag)
    requests = signed_requests(args.url, bodies, secret)
    generator = _Generator(requests)
    parts = urlsplit(args.url)
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []
    for _ in range(args.connections):
        _, protocol = await loop.create_connection(
            lambda: _Connection(generator), parts.hostname, parts.port
        )
        connections.append(protocol)
        generator.add(protocol)

    if warmup_count:
        await _open_loop(generator, args.warmup_rate, time.perf_counter(), warmup_count)
        try:
            async with asyncio.timeout(10):
                await generator.drained.wait()
        except TimeoutError:
            generator.abandon_waiting()  # a server this slow shows it in the window anyway
        await asyncio.sleep(0.3)

    watched = {
        name: [int(pid) for pid in pids.split(",")]
        for name, pids in (w.split("=", 1) for w in args.watch)
    }
    cpu_before = {name: _cpu_seconds(pid) for name, pid in watched.items()}
    own_before = _own_cpu()
    machine_before = _machine_ticks()
    start = time.perf_counter() + 0.01
    generator.window_start = start
    if rate > 0:
        await _open_loop(generator, rate, start, window_count)
    else:
        generator.closed_loop_until = start + duration
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        for _ in range(args.connections):
            generator.dispatch(time.perf_counter())
        await asyncio.sleep(duration)
    scheduling_done = time.perf_counter()
    unfinished = 0
    try:
        async with asyncio.timeout(args.drain):
            await generator.drained.wait()
    except TimeoutError:
        unfinished = generator.outstanding
        generator.abandon_waiting()
    cpu = {
        name: tuple(a - b for a, b in zip(_cpu_seconds(pid), cpu_before[name], strict=True))
        for name, pid in watched.items()
    }
    own_cpu = _own_cpu() - own_before
    busy, _, steal = (a - b for a, b in zip(_machine_ticks(), machine_before, strict=True))
    window_s = time.perf_counter() - start
    for connection in connections:
        connection.close()

    latencies = sorted(generator.latencies)
    service_times = sorted(generator.service_times)
    send_lags = sorted(generator.send_lags)
    ok = generator.statuses.get(200, 0)
    non_200 = sum(n for status, n in generator.statuses.items() if status != 200)
    # Confirmed per second over the time it took: the window plus whatever backlog it left.
    elapsed = max(duration, (generator.last_done or scheduling_done) - start)
    if unfinished:
        elapsed = max(elapsed, time.perf_counter() - start)
    requests_done = ok + non_200 + generator.failures
    result: dict[str, Any] = {
        "offered_per_s": rate if rate > 0 else None,
        "connections": args.connections,
        "duration_s": duration,
        "body_bytes": round(sum(len(b) for b in bodies[:1000]) / min(1000, len(bodies))),
        "requests": window_count if rate > 0 else requests_done,
        "confirmed": ok,
        "confirmed_per_s": round(ok / elapsed, 1),
        "non_200": non_200,
        "non_200_statuses": {str(k): v for k, v in sorted(generator.statuses.items()) if k != 200},
        "connection_errors": generator.failures,
        "unfinished": unfinished,
        # With requests left unanswered, the percentiles below understate the tail.
        "percentiles_of": f"answered only, {unfinished} unanswered" if unfinished else "all",
        "p50_ms": _ms(_percentile(latencies, 0.50)),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "p999_ms": _ms(_percentile(latencies, 0.999)),
        "max_ms": _ms(latencies[-1]) if latencies else None,
        "service_p50_ms": _ms(_percentile(service_times, 0.50)),
        "service_p99_ms": _ms(_percentile(service_times, 0.99)),
        "send_lag_p99_ms": _ms(_percentile(send_lags, 0.99)),
        "all_200": generator.all_200,
        "loadgen_cpu_us_per_req": round(own_cpu / max(1, requests_done) * 1e6, 1),
    }
    for name, (user, system) in cpu.items():
        seconds = user + system
        result[f"{name}_cores"] = round(seconds / elapsed, 2)
        result[f"{name}_cpu_us_per_req"] = round(seconds / max(1, requests_done) * 1e6, 1)
        result[f"{name}_kernel_share"] = round(system / seconds, 2) if seconds else None
    # Everything on the machine (this run, other processes, the broker) and what the
    # hypervisor took: the noise the numbers above were measured in.
    result["machine_busy_cores"] = round(busy / _CLK_TCK / window_s, 2)
    result["machine_steal_cores"] = round(steal / _CLK_TCK / window_s, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests/s; 0 = closed loop")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds of warm-up")
    parser.add_argument("--warmup-rate", type=float, default=500.0)
    parser.add_argument("--drain", type=float, default=5.0, help="max wait for stragglers")
    parser.add_argument("--phone-number-id", required=True)
    parser.add_argument("--waba-id", required=True)
    parser.add_argument("--tag", default="bench", help="makes this run's wamids unique")
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        help="name=pid[,pid...]: report their CPU in the window",
    )
    args = parser.parse_args()
    print(json.dumps(uvloop.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
