"""Faults under load: steady signed webhooks, a bot that answers them and a campaign sending,
while services are killed and the stores go away; then the promises are checked.

What is checked (the customer's view, through the simulator's records, and SQL):
- every inbound message the simulator sent is stored exactly once (messages, by wamid), those
  whose first webhook got no 200 included, once the simulator's retry got through;
- every customer got the bot's reply exactly once, every campaign recipient exactly one
  template message (the simulator's record of accepted sends per recipient);
- the tenant's audit chain verifies; the platform's queues drain;
- while Redis is down, a login and an authenticated request are refused (401/503), never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from majlis.db import create_pool, tenant_transaction
from majlis.messaging import PLATFORM_QUEUES
from majlis.settings import ServiceName
from majlis.testing.benchmarks import queue_depths
from majlis.testing.chaos.platform import Platform, settings_for
from majlis.testing.chaos.servers import PrivateServers

BOT_REPLY = "Thanks for writing, we will answer shortly."
BODY = "Hello {{1}}, our offers are back this week."
PASSWORD = "chaos under load passphrase"
_TRANSIENT = (OSError, TimeoutError, aiohttp.ClientError, asyncpg.PostgresError)


@dataclass
class Options:
    """How big the run is. The short form (``make test``) uses fewer of everything."""

    # The bot answers on one number, the campaign sends from a second one paced at
    # campaign_rate_per_s (send_rate_per_second), sized to keep sending through the faults.
    # (On one number the replies would get a fifth of its rate while the campaign runs, and
    # a backlog built during a fault would drain at that pace.)
    rate_per_s: float = 1.0
    campaign_recipients: int = 400
    campaign_rate_per_s: int = 3
    reply_rate_per_s: int = 80
    outage_s: float = 20.0
    recovery_limit_s: float = 60.0
    faults: tuple[str, ...] = (
        "kill -9 webhook_ingest",
        "kill -9 inbox",
        "kill -9 chatflow",
        "kill -9 broadcast",
        "kill -9 audit",
        "kill -9 gateway",
        "rabbitmq down",
        "postgresql restart",
        "redis down",
    )


SHORT = Options(
    rate_per_s=1.0,
    campaign_recipients=60,
    campaign_rate_per_s=3,
    outage_s=5.0,
    recovery_limit_s=45.0,
    faults=("kill -9 inbox", "kill -9 broadcast", "rabbitmq down"),
)


@dataclass
class Inbound:
    wamid: str
    phone: str
    sent_at: float


@dataclass
class FaultResult:
    name: str
    started: float
    ended: float = 0.0
    recovered_s: float | None = None
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The run's verdict: one row per fault and the end-of-run checks."""

    faults: list[FaultResult] = field(default_factory=list)
    webhooks: int = 0
    retried: int = 0
    lost: int = 0
    duplicated_messages: int = 0
    duplicated_replies: int = 0
    missing_replies: int = 0
    duplicated_campaign: int = 0
    missing_campaign: int = 0
    audit_ok: bool = False
    audit_detail: str = ""
    sends_outcome_unknown: int = 0
    queues_drained: bool = False
    # Messages parked in dead-letter queues for an operator, per queue (reported, not a loss:
    # what they carried is checked above through its effects).
    dead_lettered: dict[str, int] = field(default_factory=dict)
    auth_fails_closed: bool | None = None
    limit_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated_messages == 0
            and self.duplicated_replies == 0
            and self.missing_replies == 0
            and self.duplicated_campaign == 0
            and self.missing_campaign == 0
            and self.audit_ok
            and self.queues_drained
            and self.auth_fails_closed is not False
            and all(f.recovered_s is not None for f in self.faults)
        )

    def table(self) -> str:
        """Faults x (lost, duplicated, recovered within N s), then the end-of-run checks."""
        head = f"| fault | lost | duplicated | recovered within {self.limit_s:.0f} s | notes |"
        lines = [head, "| --- | ---: | ---: | --- | --- |"]
        for fault in self.faults:
            recovered = (
                f"yes ({fault.recovered_s:.1f} s)" if fault.recovered_s is not None else "NO"
            )
            lines.append(
                f"| {fault.name} | {fault.lost} | {fault.duplicated} | {recovered}"
                f" | {'; '.join(fault.notes)} |"
            )
        closed = {None: "not exercised", True: "yes", False: "NO"}[self.auth_fails_closed]
        lines += [
            "",
            f"webhooks sent: {self.webhooks}; first attempt not 200, stored after the"
            f" simulator's retry: {self.retried}; lost: {self.lost}",
            f"inbound stored twice: {self.duplicated_messages}; bot replies duplicated:"
            f" {self.duplicated_replies}, missing: {self.missing_replies}",
            f"campaign messages duplicated: {self.duplicated_campaign},"
            f" missing: {self.missing_campaign}",
            f"sends left 'sending' by a fault (outcome unknown: the dispatcher fails them after"
            f" outcome_unknown_after_s, never resends): {self.sends_outcome_unknown}",
            f"audit chain verifies: {'yes' if self.audit_ok else 'NO ' + self.audit_detail};"
            " queues drained:"
            f" {'yes' if self.queues_drained else 'NO'}; auth fails closed without Redis: {closed}",
            "dead-lettered (parked for an operator): "
            + (", ".join(f"{q} {n}" for q, n in sorted(self.dead_lettered.items()) if n) or "none"),
            f"verdict: {'PASS' if self.ok else 'FAIL'}",
        ]
        return "\n".join(lines)


class Run:
    """One fault run on a started platform."""

    def __init__(self, servers: PrivateServers, platform: Platform, options: Options) -> None:
        self.servers = servers
        self.platform = platform
        self.options = options
        self.http = aiohttp.ClientSession()
        self.gateway = platform.url(ServiceName.GATEWAY)
        self.settings = settings_for(platform.env)
        self.tenant_id = uuid.UUID(int=0)
        self.pnid = str(uuid.uuid4().int)[:15]
        self.campaign_pnid = str(uuid.uuid4().int)[:15]
        self.auth: dict[str, str] = {}
        self.email = f"chaos-{uuid.uuid4().hex[:10]}@example.test"
        self.inbound: list[Inbound] = []
        self.campaign_phones: list[str] = []
        self.report = Report(limit_s=options.recovery_limit_s)
        self.pool: Any = None
        self._stop_load = asyncio.Event()

    async def close(self) -> None:
        await self.http.close()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 5)

    # -- the gateway, as a business uses it ----------------------------------------------------

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, f"{self.gateway}{path}", json=body, headers=self.auth
        ) as answer:
            data = await answer.json(content_type=None) if answer.content_length != 0 else None
            return answer.status, data

    async def login(self) -> int:
        async with self.http.post(
            f"{self.gateway}/api/v1/auth/login", json={"email": self.email, "password": PASSWORD}
        ) as answer:
            if answer.status != 200:
                return answer.status
            token = (await answer.json())["access_token"]
            csrf = answer.cookies["__Host-majlis_csrf"].value
            refresh = answer.cookies["__Host-majlis_refresh"].value
        self.auth = {
            "Authorization": f"Bearer {token}",
            "X-CSRF-Token": csrf,
            "Cookie": f"__Host-majlis_csrf={csrf}; __Host-majlis_refresh={refresh}",
        }
        return 200

    async def sql(self, query: str, *args: Any) -> list[Any]:
        async with tenant_transaction(self.pool, self.tenant_id) as conn:
            return list(await conn.fetch(query, *args))

    async def setup(self) -> None:
        """A business on the Business plan with a number, a bot and a running campaign."""
        await self.setup_bot_only()
        number_id = await self._number(self.campaign_pnid, self.options.campaign_rate_per_s)
        await self._campaign(number_id)

    async def setup_bot_only(self) -> str:
        """A business on the Business plan with a number and a bot; the number's id."""
        status, answer = await self.api(
            "POST",
            "/api/v1/auth/register",
            {"business_name": "Chaos Trading", "name": "Owner", "email": self.email,
             "password": PASSWORD},
        )  # fmt: skip
        assert status == 201, answer
        self.tenant_id = uuid.UUID(answer["tenant_id"])
        assert await self.login() == 200
        self.pool = await create_pool(
            self.platform.env["MAJLIS_DATABASE_URL"], min_size=0, max_size=4
        )
        number_id = await self._number(self.pnid, self.options.reply_rate_per_s)
        await self.sql("UPDATE tenants SET plan = 'business' WHERE id = $1", self.tenant_id)
        await self._bot()
        return number_id

    async def _number(self, pnid: str, rate: int) -> str:
        """Connect a number (through the gateway and at the simulator) paced at ``rate``/s."""
        token = "EAA" + "chaos" * 8
        status, number = await self.api(
            "POST",
            "/api/v1/numbers",
            {"phone_number_id": pnid, "waba_id": "102290129340398",
             "display_number": "+971 4 000 " + pnid[-4:], "access_token": token},
        )  # fmt: skip
        assert status == 201, number
        async with self.http.post(
            f"{self.platform.sim}/_sim/numbers",
            json={"phone_number_id": pnid, "token": token, "waba_id": "102290129340398"},
        ) as answer:
            assert answer.status == 201, await answer.text()
        await self.sql(
            "UPDATE whatsapp_numbers SET send_rate_per_second = $1 WHERE id = $2",
            rate,
            uuid.UUID(number["id"]),
        )
        return str(number["id"])

    async def _bot(self) -> None:
        document = {
            "start": "reply",
            "nodes": [
                {"id": "reply", "type": "send_text", "text": BOT_REPLY},
                {"id": "done", "type": "end"},
            ],
            "edges": [{"from": "reply", "to": "done"}],
        }
        status, flow = await self.api(
            "POST",
            "/api/v1/flows",
            {"name": "Auto reply", "priority": 5, "document": document,
             "triggers": [{"type": "keyword", "match": "contains", "value": "hello"}]},
        )  # fmt: skip
        assert status == 201, flow
        status, answer = await self.api("POST", f"/api/v1/flows/{flow['id']}/publish")
        assert status in (200, 201), answer

    async def _campaign(self, number_id: str) -> None:
        status, template = await self.api(
            "POST",
            "/api/v1/templates",
            {"number_id": number_id, "name": f"offers_{uuid.uuid4().hex[:8]}",
             "category": "MARKETING", "language": "en_US",
             "components": [{"type": "BODY", "text": BODY,
                             "example": {"body_text": [["Sara"]]}}]},
        )  # fmt: skip
        assert status == 201, template
        async with asyncio.timeout(30):
            while template.get("status") != "APPROVED":
                await asyncio.sleep(0.2)
                status, template = await self.api("GET", f"/api/v1/templates/{template['id']}")
        status, campaign = await self.api(
            "POST",
            "/api/v1/campaigns",
            {"name": "Offers", "number_id": number_id, "template_id": template["id"],
             "parameters": {"body": [{"source": "name", "fallback": "friend"}]},
             "audience": {"tags": ["chaos"]}},
        )  # fmt: skip
        assert status == 201, campaign
        self.campaign_phones = [
            "+97155" + str(index).zfill(7) for index in range(self.options.campaign_recipients)
        ]
        csv = "phone,name\n" + "".join(f"{p},C{i}\n" for i, p in enumerate(self.campaign_phones))
        path = f"/api/v1/campaigns/{campaign['id']}"
        async with self.http.put(
            f"{self.gateway}{path}/audience.csv",
            data=csv.encode(),
            headers=self.auth | {"Content-Type": "text/csv"},
        ) as answer:
            assert answer.status == 200, await answer.text()
        status, answer = await self.api("POST", f"{path}/start")
        assert status in (200, 202), answer

    # -- load ----------------------------------------------------------------------------------

    async def customer_writes(self, phone: str | None = None) -> Inbound | None:
        """One customer (a new one each time) writes; the simulator signs and delivers it."""
        phone = phone or "+97150" + str(uuid.uuid4().int % 10**7).zfill(7)
        try:
            async with self.http.post(
                f"{self.platform.sim}/_sim/inbound",
                json={"phone_number_id": self.pnid, "from": phone, "text": "hello, a question"},
            ) as answer:
                assert answer.status == 201, await answer.text()
                wamid = (await answer.json())["wamid"]
        except _TRANSIENT:
            return None
        message = Inbound(wamid, phone.lstrip("+"), time.time())
        self.inbound.append(message)
        return message

    async def load(self) -> None:
        """Inbound webhooks at a steady rate until told to stop."""
        interval = 1 / self.options.rate_per_s
        while not self._stop_load.is_set():
            await self.customer_writes()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_load.wait(), interval)

    # -- what the simulator and the database say -----------------------------------------------

    async def sent(self) -> list[dict[str, Any]]:
        """Every send the simulator accepted from the bot's and the campaign's numbers."""
        items: list[dict[str, Any]] = []
        for pnid in (self.pnid, self.campaign_pnid):
            async with self.http.get(
                f"{self.platform.sim}/_sim/sent", params={"phone_number_id": pnid}
            ) as answer:
                items += (await answer.json())["data"]
        return items

    async def stored(self) -> Counter[str]:
        rows = await self.sql(
            "SELECT wamid, count(*) AS n FROM messages WHERE direction = 'inbound' GROUP BY wamid"
        )
        return Counter({row["wamid"]: row["n"] for row in rows})

    async def until(self, check: Callable[[], Awaitable[bool]], within: float) -> float | None:
        """Seconds until ``check`` holds (transient errors count as not yet), or None."""
        start = time.monotonic()
        while time.monotonic() - start < within:
            with contextlib.suppress(*_TRANSIENT):
                if await check():
                    return time.monotonic() - start
            await asyncio.sleep(0.25)
        return None

    async def replied(self, phone: str) -> bool:
        async with self.http.get(
            f"{self.platform.sim}/_sim/sent", params={"phone_number_id": self.pnid, "to": phone}
        ) as answer:
            return any(item["type"] == "text" for item in (await answer.json())["data"])

    async def everything_stored(self) -> bool:
        stored = await self.stored()
        return all(message.wamid in stored for message in list(self.inbound))

    # -- faults --------------------------------------------------------------------------------

    async def inflict(self, name: str) -> None:
        """Apply one fault, clear it, and measure how long until the platform serves again."""
        result = FaultResult(name, started=time.time())
        self.report.faults.append(result)
        outage = self.options.outage_s
        if name.startswith("kill -9 "):
            service = ServiceName(name.removeprefix("kill -9 "))
            await self.platform.kill(service)
            await asyncio.sleep(1.0)  # webhooks and sends meanwhile meet a dead process
            await self.platform.restart(service)
        elif name == "rabbitmq down":
            await self.servers.rabbit.stop()
            await asyncio.sleep(outage)
            await self.servers.rabbit.start()
        elif name == "postgresql restart":
            await self.servers.postgres.stop("fast")
            await self.servers.postgres.start()
        elif name == "redis down":
            await self.servers.redis.stop()
            await asyncio.sleep(1.0)
            self.report.auth_fails_closed = await self._auth_refused(result)
            await asyncio.sleep(max(outage - 1.0, 0))
            await self.servers.redis.start()
        else:
            raise ValueError(f"unknown fault {name!r}")
        result.ended = time.time()
        # Recovered: a customer who writes now gets the bot's answer, and everything sent so
        # far (during the fault too) is stored.
        probe_start = time.monotonic()
        probe = None
        while probe is None and time.monotonic() - probe_start < 10:
            probe = await self.customer_writes()
        limit = self.options.recovery_limit_s
        if probe is not None:
            phone = probe.phone
            answered = await self.until(lambda: self.replied(phone), limit)
            caught_up = await self.until(self.everything_stored, limit)
            result.notes.append(
                "new customer answered "
                + (f"after {answered:.1f} s" if answered is not None else "NOT in time")
                + ", backlog stored "
                + (f"{caught_up:.1f} s later" if caught_up is not None else "NOT in time")
            )
            if answered is not None and caught_up is not None:
                result.recovered_s = time.monotonic() - probe_start

    async def _auth_refused(self, result: FaultResult) -> bool:
        """Without Redis, neither a login nor a request with a valid token may pass."""
        refused = True
        saved = dict(self.auth)
        try:
            status = await self.login()
            result.notes.append(f"login {status}")
            refused &= status in (401, 429, 503)
        except _TRANSIENT as error:
            result.notes.append(f"login {type(error).__name__}")
        finally:
            self.auth = saved
        try:
            status, _ = await self.api("GET", "/api/v1/conversations")
            result.notes.append(f"conversations {status}")
            refused &= status in (401, 503)
        except _TRANSIENT as error:
            result.notes.append(f"conversations {type(error).__name__}")
        return refused

    # -- the end -------------------------------------------------------------------------------

    async def finish(self) -> Report:
        """Stop the load, let everything settle, and count."""
        report, limit = self.report, self.options.recovery_limit_s
        self._stop_load.set()
        await self.until(self.everything_stored, limit)
        total = len(self.campaign_phones)
        # Faults hold the campaign up (a killed dispatcher, a broker away): twice its pace.
        campaign_time = 2 * total / self.options.campaign_rate_per_s + limit

        async def campaign_done() -> bool:
            sent = await self.sent()
            return bool(sum(item["type"] == "template" for item in sent) >= total)

        await self.until(campaign_done, campaign_time)

        async def replies_done() -> bool:
            sent = await self.sent()
            replied = {item["wa_id"] for item in sent if item["type"] == "text"}
            return all(message.phone in replied for message in self.inbound)

        await self.until(replies_done, limit)
        await self._count(report)
        await self.login()  # the token may have expired during a long run
        status, verdict = await self.api("POST", "/api/v1/audit/verify", {})
        report.audit_ok = status == 200 and verdict.get("ok") is True
        if not report.audit_ok:
            report.audit_detail = f"({status}: {json.dumps(verdict)[:300]})"
        names = [spec.name for spec in PLATFORM_QUEUES]

        async def drained() -> bool:
            depths = await queue_depths(self.settings, names)
            return not any(depths.values())

        report.queues_drained = await self.until(drained, limit) is not None
        report.dead_lettered = await queue_depths(self.settings, [f"{n}.dlq" for n in names])
        return report

    async def _count(self, report: Report) -> None:
        stored = await self.stored()
        [row] = await self.sql("SELECT count(*) AS n FROM outbound_sends WHERE state = 'sending'")
        report.sends_outcome_unknown = int(row["n"])
        deliveries: dict[str, dict[str, Any]] = {}
        async with self.http.get(f"{self.platform.sim}/_sim/webhooks/inbound") as answer:
            for item in (await answer.json())["data"]:
                deliveries[item["wamid"]] = item
        sent = await self.sent()
        report.webhooks = len(self.inbound)
        for message in self.inbound:
            count = stored.get(message.wamid, 0)
            fault = self._fault_at(message.sent_at)
            if count == 0:
                report.lost += 1
                if fault is not None:
                    fault.lost += 1
            elif count > 1:
                report.duplicated_messages += count - 1
                if fault is not None:
                    fault.duplicated += count - 1
            delivery = deliveries.get(message.wamid)
            if count and delivery is not None and delivery["first_status"] != 200:
                report.retried += 1
        replies = Counter(item["wa_id"] for item in sent if item["type"] == "text")
        campaign = Counter(item["wa_id"] for item in sent if item["type"] == "template")
        report.missing_replies = sum(1 for m in self.inbound if replies[m.phone] == 0)
        report.missing_campaign = sum(1 for p in self.campaign_phones if not campaign[p[1:]])
        for counter, kind in ((replies, "text"), (campaign, "template")):
            for wa_id, count in counter.items():
                if count < 2:
                    continue
                if kind == "text":
                    report.duplicated_replies += count - 1
                else:
                    report.duplicated_campaign += count - 1
                # Blame the fault during which the second send happened.
                stamps = sorted(
                    item["timestamp"]
                    for item in sent
                    if item["wa_id"] == wa_id and item["type"] == kind
                )
                fault = self._fault_at(float(stamps[1]))
                if fault is not None:
                    fault.duplicated += count - 1

    def _fault_at(self, when: float) -> FaultResult | None:
        """The fault whose window (its start until the next one's) holds ``when``."""
        current = None
        for fault in self.report.faults:
            if fault.started <= when:
                current = fault
        return current


async def run(options: Options, base_env: dict[str, str], say: Callable[[str], None]) -> Report:
    """Private stores, the platform on them, load, each fault in turn, then the checks."""
    from majlis.testing.chaos.platform import platform_env, prepare_database

    async with PrivateServers() as servers:
        say(f"private PostgreSQL :{servers.postgres.port}, Redis :{servers.redis.port},"
            f" RabbitMQ :{servers.rabbit.port} under {servers.root}")  # fmt: skip
        env = platform_env(servers, base_env)
        await prepare_database(env)
        logs = Path(tempfile.mkdtemp(prefix="majlis-chaos-logs-"))
        platform = Platform(env, logs)
        chaos: Run | None = None
        try:
            await platform.start()
            say("platform up; setting up a tenant, a bot and a campaign")
            chaos = Run(servers, platform, options)
            await chaos.setup()
            load = asyncio.create_task(chaos.load())
            await asyncio.sleep(3)
            for name in options.faults:
                say(f"fault: {name}")
                await chaos.inflict(name)
                if load.done():
                    load.result()  # surface the error
            report = await chaos.finish()
            await load
            if report.ok:
                shutil.rmtree(logs, ignore_errors=True)
            else:
                say(f"service logs kept in {logs}")
            return report
        except BaseException:
            say(f"failed; service logs kept in {logs}")
            raise
        finally:
            if chaos is not None:
                await chaos.close()
            await platform.stop()
