"""Benchmark S3 (issue 7): inbound message to the bot's reply, end to end (not a test).

The whole platform as real processes (`majlis.testing.chaos`: the six services and the Graph
API simulator on private PostgreSQL, Redis and RabbitMQ instances of the bench's own, so the
shared servers are not loaded by anything but the bench's CPU). One business, one number
(send rate raised to 1,000/s), a published flow that answers every message with one text.
Customers (each a new one) write through the simulator at `BENCH_BOT_RATE` messages/s for
`BENCH_BOT_S` seconds; 5 % of the webhooks are delivered a second time (Meta re-delivers).
Latency: from the moment the bench asked the simulator to deliver the message to the moment
the simulator accepted the bot's reply (both on this machine's clock; includes the
simulator's 20 ms webhook batching window). Prints one JSON line; exits 0 whether or not the
target is met.

Before the measured run, `BENCH_BOT_WARMUP_S` (5) seconds of the same traffic fill the empty
database, which is then analysed (what autovacuum does within a minute in production): the
statements the services prepared against empty tables would otherwise keep plans made for
empty tables (a sequential scan of `messages` per status update) for the whole run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections import Counter
from typing import Any

import asyncpg

from majlis.testing.chaos.platform import DATABASE, Platform, platform_env, prepare_database
from majlis.testing.chaos.scenario import SHORT, Run
from majlis.testing.chaos.servers import PrivateServers

RATE = float(os.environ.get("BENCH_BOT_RATE", "50"))
DURATION_S = float(os.environ.get("BENCH_BOT_S", "10"))
WARMUP_S = float(os.environ.get("BENCH_BOT_WARMUP_S", "5"))
TARGET_RATE, TARGET_P50_MS, TARGET_P99_MS = 1000.0, 15.0, 100.0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def _redeliver(chaos: Run, message: dict[str, Any]) -> None:
    """Meta re-delivers: the same message (same wamid) in a second signed webhook."""
    async with chaos.http.post(
        f"{chaos.platform.sim}/_sim/inbound",
        json={"phone_number_id": chaos.pnid, "from": message["from"],
              "message": {"type": "text", "id": message["wamid"],
                          "text": {"body": "hello again"}}},
    ) as answer:  # fmt: skip
        await answer.read()


async def _offer(chaos: Run, count: int, prefix: str) -> tuple[dict[str, float], list[Any]]:
    """`count` new customers writing at RATE/s; when each asked, and what was written."""
    asked: dict[str, float] = {}
    interval = 1 / RATE
    start = time.monotonic()
    tasks = []
    for index in range(count):
        due = start + index * interval
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        phone = prefix + str(index).zfill(7)
        asked[phone.lstrip("+")] = time.time()
        tasks.append(asyncio.create_task(chaos.customer_writes(phone)))
    return asked, [m for m in await asyncio.gather(*tasks) if m is not None]


async def _replies_to(chaos: Run, phones: set[str]) -> None:
    """Wait (a minute at most) until each of these customers has the bot's reply."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answered = {i["wa_id"] for i in await chaos.sent() if i["type"] == "text"}
        if phones <= answered:
            return
        await asyncio.sleep(0.5)


async def _analyse(servers: PrivateServers) -> None:
    conn = await asyncpg.connect(servers.postgres.url("postgres", DATABASE))  # noqa: TID251
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def main() -> None:
    async with PrivateServers() as servers:
        env = platform_env(servers, dict(os.environ))
        await prepare_database(env)
        platform = Platform(env, servers.root / "logs")
        chaos: Run | None = None
        try:
            await platform.start()
            options = dataclasses.replace(SHORT, reply_rate_per_s=1000, campaign_recipients=0)
            chaos = Run(servers, platform, options)
            await chaos.setup_bot_only()
            if WARMUP_S > 0:
                _, warm = await _offer(chaos, int(RATE * WARMUP_S), "+97155")
                await _replies_to(chaos, {m.phone for m in warm})
                await _analyse(servers)
            asked, written = await _offer(chaos, int(RATE * DURATION_S), "+97156")
            for message in written[::20]:
                await _redeliver(chaos, {"from": message.phone, "wamid": message.wamid})
            deadline = time.monotonic() + 60
            replies: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                replies = [
                    i for i in await chaos.sent() if i["type"] == "text" and i["wa_id"] in asked
                ]
                if len(replies) >= len(written):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # a duplicate would come after the first reply
            replies = [i for i in await chaos.sent() if i["type"] == "text" and i["wa_id"] in asked]
            per_customer = Counter(item["wa_id"] for item in replies)
            latencies = [
                (min(i["accepted_at"] for i in replies if i["wa_id"] == wa_id) - asked[wa_id])
                * 1000
                for wa_id in per_customer
            ]
            first = min((asked[m.phone] for m in written), default=0.0)
            last_reply = max((i["accepted_at"] for i in replies), default=first)
            achieved = len(per_customer) / max(0.001, last_reply - first)
            p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
            line = {
                "scenario": "end to end: inbound webhook to bot reply (S3)",
                "offered_per_s": RATE,
                "messages": len(written),
                "redelivered": len(written[::20]),
                "replies_per_s": round(achieved, 1),
                "p50_ms": p50,
                "p99_ms": p99,
                "lost": sum(1 for m in written if per_customer[m.phone] == 0),
                "duplicated": sum(n - 1 for n in per_customer.values() if n > 1),
                "target": f">= {TARGET_RATE:.0f}/s, p50 < {TARGET_P50_MS:.0f} ms,"
                f" p99 < {TARGET_P99_MS:.0f} ms, 0 lost, 0 duplicated",
            }
            line["target_met"] = bool(
                RATE >= TARGET_RATE
                and p50 is not None
                and p99 is not None
                and p50 < TARGET_P50_MS
                and p99 < TARGET_P99_MS
                and line["lost"] == 0
                and line["duplicated"] == 0
            )
            print(json.dumps(line), flush=True)
        finally:
            if chaos is not None:
                await chaos.close()
            await platform.stop()


if __name__ == "__main__":
    asyncio.run(main())
