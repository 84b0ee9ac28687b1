"""Chatflows end to end, in-process, on the real PostgreSQL, Redis and RabbitMQ.

`flow_world` (one per module) runs the inbox, the chatflow service, the broadcast service
and its dispatcher (against the Graph API simulator) and a gateway that proxies to all three.
A customer message arrives the way webhook-ingest delivers it; the bot's reply is seen at the
simulator. The chatflow service's OpenAI base URL is a local fake (`openai`); a test can slow
it down by adding an awaitable hook to `ai_holds` (awaited before each request is answered).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from broadcast.app import create_app as create_broadcast
from broadcast.dispatcher import DispatcherConfig
from chatflow.ai import AI_SETTINGS
from chatflow.app import create_app as create_chatflow
from inbox.app import create_app as create_inbox
from majlis.ai import AiSettings
from majlis.crypto import FieldCipher, KeyRing
from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.webhook_ingest import MessageReceived
from majlis.messaging import Bus, Publisher
from majlis.settings import Settings
from majlis.testing.ai_fakes import FakeProviderState, create_fake_openai
from majlis.testing.browser import Browser, GatewayUnderTest
from majlis.testing.stack import gateway_settings, start_gateway

OPENAI_KEY = "sk-test-" + "flowworld0123456789ab"
OPENAI_MODEL = "gpt-4o-mini"


def meta_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


def fresh_phone() -> str:
    return "+97150" + str(secrets.randbelow(10**7)).zfill(7)


@dataclass
class Team:
    tenant_id: uuid.UUID
    number_id: uuid.UUID
    phone_number_id: str
    waba_id: str
    people: dict[str, Browser]
    user_ids: dict[str, uuid.UUID]


@dataclass
class FlowWorld:
    gateway: GatewayUnderTest
    settings: Settings
    pool: Any
    publisher: Publisher
    cipher: FieldCipher
    sim: str
    http: aiohttp.ClientSession
    teams: list[Team] = field(default_factory=list)
    openai: FakeProviderState | None = None
    ai_holds: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    fresh_phone = staticmethod(fresh_phone)

    async def team(self) -> Team:
        """A fresh tenant with a number, an owner, an admin, an agent and a viewer."""
        owner, _, tenant_id = await self.gateway.owner()
        people = {"owner": owner}
        for role in ("admin", "agent", "viewer"):
            people[role], _ = await self.gateway.member(owner, role)
        user_ids: dict[str, uuid.UUID] = {}
        for name, browser in people.items():
            status, me, _ = await browser.request("GET", "/api/v1/me")
            assert status == 200, me
            user_ids[name] = uuid.UUID(me["user"]["id"])
        number_id, pnid, waba = uuid.uuid4(), meta_id(), meta_id()
        token_enc = self.cipher.encrypt(
            "EAA" + secrets.token_hex(8), tenant_id=tenant_id, field="whatsapp_numbers.access_token"
        )
        async with tenant_transaction(self.pool, tenant_id, "owner") as conn:
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97143000000', $5)",
                tenant_id, number_id, pnid, waba, token_enc,
            )  # fmt: skip
        team = Team(tenant_id, number_id, pnid, waba, people, user_ids)
        self.teams.append(team)
        return team

    async def say(
        self, team: Team, phone: str, text: str = "Hello", *, message: dict[str, Any] | None = None
    ) -> str:
        """The customer writes (as webhook-ingest publishes it); returns the wamid."""
        wa_id, wamid = phone.lstrip("+"), "wamid.test" + secrets.token_hex(16)
        await self.open_window(team, phone)
        body = message or {"type": "text", "text": {"body": text}}
        now = datetime.now(UTC)
        event = MessageReceived(
            phone_number_id=team.phone_number_id,
            waba_id=team.waba_id,
            message={"from": wa_id, "id": wamid, "timestamp": str(int(now.timestamp())), **body},
            contact={"wa_id": wa_id, "profile": {"name": "Customer"}},
            received_at=now,
        )
        await self.publisher.publish(make_envelope(event, tenant_id=team.tenant_id))
        return wamid

    async def open_window(self, team: Team, phone: str) -> None:
        body = {"phone_number_id": team.phone_number_id, "wa_id": phone.lstrip("+")}
        async with self.http.post(f"{self.sim}/_sim/window", json=body) as response:
            assert response.status == 200

    async def sent(self, team: Team) -> list[dict[str, Any]]:
        """What the simulator accepted from the team's number, oldest first."""
        params = {"phone_number_id": team.phone_number_id}
        async with self.http.get(f"{self.sim}/_sim/sent", params=params) as response:
            data: list[dict[str, Any]] = (await response.json())["data"]
        return data

    async def sent_count(
        self, team: Team, count: int, within: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait until the simulator got `count` messages from the team's number."""
        async with asyncio.timeout(within):
            while len(found := await self.sent(team)) < count:  # noqa: ASYNC110  (polling the simulator/database)
                await asyncio.sleep(0.05)
        return found

    async def sql(self, team: Team, query: str, *args: Any) -> list[Any]:
        async with tenant_transaction(self.pool, team.tenant_id) as conn:
            return list(await conn.fetch(query, *args))

    async def until(self, team: Team, query: str, *args: Any, within: float = 15.0) -> list[Any]:
        """Wait until `query` returns rows."""
        async with asyncio.timeout(within):
            while not (rows := await self.sql(team, query, *args)):  # noqa: ASYNC110  (polling the simulator/database)
                await asyncio.sleep(0.05)
        return rows


@pytest.fixture(scope="module")
async def flow_world(
    settings: Settings, graph_simulator: str, db_pool: Any
) -> AsyncIterator[FlowWorld]:
    configured = settings.model_copy(
        update={
            "graph_api_url": graph_simulator,
            "outbox_poll_interval": 0.05,
            "chatflow_timer_interval_ms": 100,
            "outbound_allow_loopback": True,
        }
    )
    openai = FakeProviderState(api_keys={OPENAI_KEY}, models={OPENAI_MODEL})
    ai_holds: list[Callable[[], Awaitable[None]]] = []

    @web.middleware
    async def held(request: web.Request, handler: Any) -> web.StreamResponse:
        for hold in list(ai_holds):
            await hold()
        return await handler(request)  # type: ignore[no-any-return]

    fake_app = create_fake_openai(openai)
    fake_app.middlewares.append(held)
    fake_openai = TestServer(fake_app, host="127.0.0.1")
    await fake_openai.start_server()
    chatflow = create_chatflow(configured)
    chatflow[AI_SETTINGS] = AiSettings(
        openai_base_url=str(fake_openai.make_url("")).rstrip("/"), backoff_base_seconds=0.05
    )
    servers = []
    for app in (
        create_inbox(configured),
        chatflow,
        create_broadcast(configured, DispatcherConfig(pair_interval_s=0.1, pair_burst=50)),
    ):
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
    inbox_url, chatflow_url, broadcast_url = (str(s.make_url("")).rstrip("/") for s in servers)
    gw_settings = gateway_settings(
        settings, graph_simulator, inbox_url=inbox_url, chatflow_url=chatflow_url,
        broadcast_url=broadcast_url,
    )  # fmt: skip
    gateway, session = await start_gateway(gw_settings)
    under_test = GatewayUnderTest(
        str(gateway.make_url("")).rstrip("/"), gateway.app, gw_settings, session
    )
    bus = await Bus.connect(settings, name="majlis-tests-chatflow")
    http = aiohttp.ClientSession()
    world = FlowWorld(
        under_test, configured, db_pool, Publisher(bus),
        FieldCipher(KeyRing.from_settings(settings)), graph_simulator, http,
        openai=openai, ai_holds=ai_holds,
    )  # fmt: skip
    yield world
    await http.close()
    await bus.close()
    await session.close()
    await gateway.close()
    for server in servers:
        await server.close()
    await fake_openai.close()
    for tenant_id in under_test.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
