"""The dispatcher in-process (the broadcast app) against the Graph API simulator, on the real
PostgreSQL, Redis and RabbitMQ.

`dispatch_world` (one per module) runs the broadcast app with graph_api_url = the simulator,
makes tenants with a WhatsApp number, publishes send commands the way the inbox does, and
watches `broadcast.#` on a queue of its own (deleted afterwards).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from broadcast.app import create_app
from broadcast.dispatcher import DispatcherConfig
from majlis.crypto import FieldCipher, KeyRing
from majlis.db import tenant_transaction
from majlis.events import Envelope, make_envelope
from majlis.events.broadcast import SEND_PAYLOAD_FIELD, SendBulkMessage, SendMessage
from majlis.messaging import Bus, Publisher
from majlis.settings import Settings
from majlis.testing.bus_observer import observe

TOKEN_FIELD = "whatsapp_numbers.access_token"  # a field name

# Short delays so retries, pacing and sweeps happen within a test.
TEST_CONFIG = DispatcherConfig(
    pair_interval_s=1.0,
    pair_burst=2,
    max_transient_failures=3,
    backoff_base_s=0.05,
    backoff_max_s=0.5,
    pair_backoff_base_s=0.2,
    sweep_interval_s=0.05,
)


def fresh_phone() -> str:
    """A UAE mobile number (E.164) no other test uses."""
    return "+9715" + str(secrets.randbelow(10**8)).zfill(8)


def meta_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


@dataclass
class Number:
    tenant_id: uuid.UUID
    number_id: uuid.UUID
    phone_number_id: str


@dataclass
class Observed:
    """`broadcast.#` events seen on the test's queue: (type, payload, monotonic arrival)."""

    items: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    def of(self, kind: str, message_id: uuid.UUID) -> list[dict[str, Any]]:
        return [p for t, p, _ in self.items if t == kind and p.get("message_id") == str(message_id)]

    def arrival(self, kind: str, message_id: uuid.UUID) -> float:
        [at] = [a for t, p, a in self.items if t == kind and p.get("message_id") == str(message_id)]
        return at

    async def wait(
        self, kind: str, message_id: uuid.UUID, *, within: float = 10.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while not self.of(kind, message_id):  # noqa: ASYNC110  # filled by a bus callback
                await asyncio.sleep(0.02)
        return self.of(kind, message_id)[0]


@dataclass
class DispatchWorld:
    settings: Settings
    pool: Any
    cipher: FieldCipher
    publisher: Publisher
    sim: str
    http: aiohttp.ClientSession
    observed: Observed
    tenants: list[uuid.UUID] = field(default_factory=list)
    fresh_phone = staticmethod(fresh_phone)

    async def number(self, *, rate: int | None = None, token: str | None = None) -> Number:
        """A fresh tenant with one WhatsApp number (token valid for the lax simulator)."""
        tenant_id, number_id, pnid = uuid.uuid4(), uuid.uuid4(), meta_id()
        token_enc = self.cipher.encrypt(
            token or "EAA" + secrets.token_hex(8), tenant_id=tenant_id, field=TOKEN_FIELD
        )
        async with tenant_transaction(self.pool, tenant_id) as conn:
            await conn.execute(
                "INSERT INTO tenants (id, name) VALUES ($1, 'Dispatch Co')", tenant_id
            )
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc, send_rate_per_second)"
                " VALUES ($1, $2, $3, $4, '+97143000000', $5, $6)",
                tenant_id, number_id, pnid, meta_id(), token_enc, rate,
            )  # fmt: skip
        self.tenants.append(tenant_id)
        return Number(tenant_id, number_id, pnid)

    def command(
        self,
        number: Number,
        to: str,
        text: str = "Hello",
        *,
        bulk: bool = False,
        message_id: uuid.UUID | None = None,
    ) -> Envelope:
        """A send command as the inbox publishes it (payload encrypted for the tenant)."""
        content = {"to": to, "message": {"type": "text", "text": {"body": text}}}
        sealed = self.cipher.encrypt(
            json.dumps(content), tenant_id=number.tenant_id, field=SEND_PAYLOAD_FIELD
        )
        kind = SendBulkMessage if bulk else SendMessage
        event = kind(
            message_id=message_id or uuid.uuid4(),
            conversation_id=uuid.uuid4(),
            number_id=number.number_id,
            payload_enc=base64.b64encode(sealed).decode(),
        )
        return make_envelope(event, tenant_id=number.tenant_id)

    async def send(self, number: Number, to: str, text: str = "Hello", **kw: Any) -> uuid.UUID:
        envelope = self.command(number, to, text, **kw)
        await self.publisher.publish(envelope)
        return uuid.UUID(envelope.payload["message_id"])

    async def open_window(self, number: Number, to: str) -> None:
        body = {"phone_number_id": number.phone_number_id, "wa_id": to.lstrip("+")}
        async with self.http.post(f"{self.sim}/_sim/window", json=body) as response:
            assert response.status == 200

    async def fail_next(
        self, number: Number, code: int, *, status: int = 400, count: int = 1
    ) -> None:
        body = {
            "phone_number_id": number.phone_number_id,
            "code": code,
            "status": status,
            "count": count,
        }
        async with self.http.post(f"{self.sim}/_sim/faults", json=body) as response:
            assert response.status == 200, await response.text()

    async def sent(self, number: Number) -> list[dict[str, Any]]:
        """What the simulator accepted from this number, oldest first."""
        params = {"phone_number_id": number.phone_number_id}
        async with self.http.get(f"{self.sim}/_sim/sent", params=params) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
        return data

    async def row(self, number: Number, message_id: uuid.UUID) -> Any:
        async with tenant_transaction(self.pool, number.tenant_id) as conn:
            return await conn.fetchrow("SELECT * FROM outbound_sends WHERE id = $1", message_id)

    async def state_becomes(
        self, number: Number, message_id: uuid.UUID, state: str, *, within: float = 10.0
    ) -> Any:
        async with asyncio.timeout(within):
            while True:
                row = await self.row(number, message_id)
                if row is not None and row["state"] == state:
                    return row
                await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
async def dispatch_world(
    settings: Settings, graph_simulator: str, db_pool: Any
) -> AsyncIterator[DispatchWorld]:
    configured = settings.model_copy(
        update={"graph_api_url": graph_simulator, "outbox_poll_interval": 0.05}
    )
    server = TestServer(create_app(configured, TEST_CONFIG), host="127.0.0.1")
    await server.start_server()
    bus = await Bus.connect(settings, name="majlis-tests-broadcast")
    observed = Observed()
    stop_observing = await observe(
        bus,
        "broadcast",
        ("broadcast.#",),
        lambda kind, payload: observed.items.append((kind, payload, time.monotonic())),
    )
    http = aiohttp.ClientSession()
    world = DispatchWorld(
        configured,
        db_pool,
        FieldCipher(KeyRing.from_settings(settings)),
        Publisher(bus),
        graph_simulator,
        http,
        observed,
    )
    yield world
    await http.close()
    await stop_observing()
    await bus.close()
    await server.close()
    for tenant_id in world.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)


# Templates -------------------------------------------------------------------------------
@dataclass
class Team:
    """A tenant with one WhatsApp number, and a signed token per role."""

    tenant_id: uuid.UUID
    number_id: uuid.UUID
    waba_id: str
    token: str  # the number's Meta access token
    tokens: dict[str, str]


@dataclass
class TemplateWorld:
    """The broadcast app (templates API) with the simulator, a publisher and an observer."""

    settings: Settings
    pool: Any
    url: str
    publisher: Publisher
    http: aiohttp.ClientSession
    graph: Any
    events: list[tuple[str, dict[str, Any]]]
    signer: Any
    tenants: list[uuid.UUID] = field(default_factory=list)
    cipher: FieldCipher | None = None

    async def team(self) -> Team:
        """A fresh tenant, its number and WABA, and tokens for owner/admin/agent/viewer."""
        assert self.cipher is not None
        tenant_id, number_id, waba_id = uuid.uuid4(), uuid.uuid4(), meta_id()
        token = "EAA" + secrets.token_hex(8)
        token_enc = self.cipher.encrypt(token, tenant_id=tenant_id, field=TOKEN_FIELD)
        async with tenant_transaction(self.pool, tenant_id) as conn:
            await conn.execute(
                "INSERT INTO tenants (id, name) VALUES ($1, 'Templates Co')", tenant_id
            )
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97143000000', $5)",
                tenant_id, number_id, meta_id(), waba_id, token_enc,
            )  # fmt: skip
        self.tenants.append(tenant_id)
        tokens = {
            role: self.signer.issue(user_id=uuid.uuid4(), tenant_id=tenant_id, role=role)[0]
            for role in ("owner", "admin", "agent", "viewer")
        }
        return Team(tenant_id, number_id, waba_id, token, tokens)

    async def request(
        self, team: Team, role: str, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {team.tokens[role]}"}
        async with self.http.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            data = await response.json() if response.status != 204 else None
            return response.status, data

    def of(self, kind: str, key: str, value: str) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == kind and p.get(key) == value]


@pytest.fixture(scope="module")
async def template_world(
    settings: Settings, graph_simulator: str, db_pool: Any
) -> AsyncIterator[TemplateWorld]:
    from majlis.http.tokens import TokenSigner
    from majlis.meta import GraphClient

    configured = settings.model_copy(
        update={"graph_api_url": graph_simulator, "outbox_poll_interval": 0.05}
    )
    server = TestServer(create_app(configured, TEST_CONFIG), host="127.0.0.1")
    await server.start_server()
    bus = await Bus.connect(settings, name="majlis-tests-templates")
    events: list[tuple[str, dict[str, Any]]] = []
    stop_observing = await observe(
        bus, "templates", ("broadcast.#",), lambda kind, payload: events.append((kind, payload))
    )
    http = aiohttp.ClientSession()
    world = TemplateWorld(
        configured,
        db_pool,
        str(server.make_url("")).rstrip("/"),
        Publisher(bus),
        http,
        GraphClient.from_settings(http, configured),
        events,
        TokenSigner.from_settings(settings),
        cipher=FieldCipher(KeyRing.from_settings(settings)),
    )
    yield world
    await http.close()
    await stop_observing()
    await bus.close()
    await server.close()
    for tenant_id in world.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)


# Campaigns -------------------------------------------------------------------------------
@dataclass
class CampaignWorld(TemplateWorld):
    """The broadcast app with a fast campaign runner, a simulator that approves at once."""

    sim: str = ""
    bus: Any = None

    async def approved_template(self, team: Team, body_text: str, examples: list[str]) -> str:
        """A template created through the API (and so at the simulator), then approved."""
        async with tenant_transaction(self.pool, team.tenant_id) as conn:
            pnid = await conn.fetchval(
                "SELECT phone_number_id FROM whatsapp_numbers WHERE id = $1", team.number_id
            )
        known = {"phone_number_id": pnid, "token": team.token, "waba_id": team.waba_id}
        async with self.http.post(f"{self.sim}/_sim/numbers", json=known) as response:
            assert response.status == 201, await response.text()
        name = f"promo_{secrets.token_hex(4)}"
        components: list[dict[str, Any]] = [{"type": "BODY", "text": body_text}]
        if examples:
            components[0]["example"] = {"body_text": [examples]}
        status, created = await self.request(
            team, "owner", "POST", "/api/v1/templates",
            {"number_id": str(team.number_id), "name": name, "category": "MARKETING",
             "language": "en_US", "components": components},
        )  # fmt: skip
        assert status == 201, created
        async with tenant_transaction(self.pool, team.tenant_id) as conn:
            await conn.execute(
                "UPDATE templates SET status = 'APPROVED' WHERE id = $1", uuid.UUID(created["id"])
            )
        return str(created["id"])

    async def contact(
        self,
        team: Team,
        phone: str,
        name: str | None = None,
        *,
        tags: tuple[str, ...] = (),
        attributes: dict[str, Any] | None = None,
        opt_in: bool = False,
        opt_out: bool = False,
        restricted: bool = False,
    ) -> uuid.UUID:
        """A contact stored as the inbox stores it (encrypted, blind-indexed)."""
        from majlis.crypto import BlindIndexer

        assert self.cipher is not None
        indexer = BlindIndexer.from_settings(self.settings)
        tid, cid = team.tenant_id, uuid.uuid4()
        sealed = self.cipher.encrypt
        async with tenant_transaction(self.pool, tid) as conn:
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc,"
                " attributes_enc, marketing_opt_in, marketing_opt_out, processing_restricted)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                tid, cid, sealed(phone, tenant_id=tid, field="contacts.phone"),
                indexer.value(phone, tenant_id=tid, field="contacts.phone"),
                sealed(name, tenant_id=tid, field="contacts.name") if name else None,
                sealed(json.dumps(attributes), tenant_id=tid, field="contacts.attributes")
                if attributes else None,
                opt_in, opt_out, restricted,
            )  # fmt: skip
            for tag in tags:
                await conn.execute(
                    "INSERT INTO contact_tags (tenant_id, contact_id, tag) VALUES ($1, $2, $3)",
                    tid, cid, tag,
                )  # fmt: skip
        return cid

    async def sent(self, phone_number_id: str) -> list[dict[str, Any]]:
        """What the simulator accepted from this number, oldest first."""
        params = {"phone_number_id": phone_number_id}
        async with self.http.get(f"{self.sim}/_sim/sent", params=params) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
        return data

    async def raw(
        self, team: Team, role: str, method: str, path: str, data: bytes, content_type: str
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {team.tokens[role]}", "Content-Type": content_type}
        async with self.http.request(method, self.url + path, data=data, headers=headers) as r:
            return r.status, await r.read()


async def _campaign_world(
    settings: Settings, db_pool: Any, sim_url: str
) -> AsyncIterator[CampaignWorld]:
    from broadcast.campaign_runner import RunnerConfig
    from majlis.http.tokens import TokenSigner
    from majlis.meta import GraphClient

    configured = settings.model_copy(
        update={"graph_api_url": sim_url, "outbox_poll_interval": 0.05}
    )
    runner = RunnerConfig(interval_s=0.1, feed_ahead_s=1.0, batch_max=50)
    server = TestServer(create_app(configured, TEST_CONFIG, runner), host="127.0.0.1")
    await server.start_server()
    bus = await Bus.connect(settings, name="majlis-tests-campaigns")
    events: list[tuple[str, dict[str, Any]]] = []
    stop_observing = await observe(
        bus, "campaigns", ("broadcast.#",), lambda kind, payload: events.append((kind, payload))
    )
    http = aiohttp.ClientSession()
    world = CampaignWorld(
        configured,
        db_pool,
        str(server.make_url("")).rstrip("/"),
        Publisher(bus),
        http,
        GraphClient.from_settings(http, configured),
        events,
        TokenSigner.from_settings(settings),
        cipher=FieldCipher(KeyRing.from_settings(settings)),
        sim=sim_url,
        bus=bus,
    )
    yield world
    await http.close()
    await stop_observing()
    await bus.close()
    await server.close()
    for tenant_id in world.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)


@pytest.fixture(scope="module")
async def fast_simulator(settings: Settings) -> AsyncIterator[str]:
    """A simulator that approves templates at once (campaigns send them right away)."""
    from majlis.graphsim import SimulatorConfig
    from majlis.graphsim.testing import running_simulator

    config = SimulatorConfig(
        app_secret=settings.meta_app_secret.get_secret_value(),
        webhook_url="http://127.0.0.1:9/unused",
        template_approval_delay_ms=0,
    )
    async with running_simulator(config) as url:
        yield url


@pytest.fixture(scope="module")
async def campaign_world(
    settings: Settings, fast_simulator: str, db_pool: Any
) -> AsyncIterator[CampaignWorld]:
    async for world in _campaign_world(settings, db_pool, fast_simulator):
        yield world


# Outbound webhooks ------------------------------------------------------------------------
# Retry delays scaled so the whole schedule runs in milliseconds; loopback allowed (the
# receiver runs on 127.0.0.1) as in local development; an endpoint is disabled after 3
# messages failed for good in a row.
WEBHOOK_SETTINGS: dict[str, Any] = {
    "outbound_allow_loopback": True,
    "webhook_retry_scale": 0.00005,
    "webhook_retry_after_cap_seconds": 5,
    "webhook_timeout_seconds": 2.0,
    "webhook_disable_after_exhausted": 3,
    "webhook_disable_after_seconds": 0,
    "webhook_worker_interval_ms": 20,
    "outbox_poll_interval": 0.05,
}


@pytest.fixture(scope="module")
async def webhook_world(settings: Settings, db_pool: Any) -> AsyncIterator[TemplateWorld]:
    """The broadcast app (webhooks API and worker), a publisher, and a `broadcast.#` observer."""
    from majlis.http.tokens import TokenSigner

    configured = settings.model_copy(update=WEBHOOK_SETTINGS)
    server = TestServer(create_app(configured, TEST_CONFIG), host="127.0.0.1")
    await server.start_server()
    bus = await Bus.connect(settings, name="majlis-tests-webhooks")
    events: list[tuple[str, dict[str, Any]]] = []
    stop_observing = await observe(
        bus, "webhooks", ("broadcast.#",), lambda kind, payload: events.append((kind, payload))
    )
    http = aiohttp.ClientSession()
    world = TemplateWorld(
        configured,
        db_pool,
        str(server.make_url("")).rstrip("/"),
        Publisher(bus),
        http,
        None,
        events,
        TokenSigner.from_settings(settings),
        cipher=FieldCipher(KeyRing.from_settings(settings)),
    )
    yield world
    await http.close()
    await stop_observing()
    await bus.close()
    await server.close()
    for tenant_id in world.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
