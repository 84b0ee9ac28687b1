"""The chatflow service's AI part in-process, with fake OpenAI and Gemini servers, on the real
PostgreSQL, Redis and RabbitMQ.

`ai_world` (one per module) runs the chatflow app with the fakes as provider base URLs (short
backoff), signs tokens for each role of fresh tenants, adds contacts, and watches `chatflow.#`
events on a queue of its own (deleted afterwards).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chatflow.ai import AI_SERVICE, AI_SETTINGS
from chatflow.ai.answerer import AiService
from chatflow.app import create_app
from majlis.ai import AiSettings
from majlis.db import tenant_transaction
from majlis.messaging import Bus
from majlis.settings import Settings
from majlis.testing.ai_fakes import FakeProviderState, create_fake_gemini, create_fake_openai
from majlis.testing.bus_observer import observe

OPENAI_KEY = "sk-test-" + "a1b2c3d4e5f6a7b8c9d0"
GEMINI_KEY = "AIzaSyTest" + "0123456789abcdefghijklmno"


@dataclass
class Team:
    """A fresh tenant and a signed token per role."""

    tenant_id: uuid.UUID
    tokens: dict[str, str]
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass
class AiWorld:
    settings: Settings
    pool: Any
    url: str
    http: aiohttp.ClientSession
    signer: Any
    openai: FakeProviderState
    gemini: FakeProviderState
    app: Any
    events: list[tuple[str, dict[str, Any]]]
    tenants: list[uuid.UUID] = field(default_factory=list)

    @property
    def settings_ai(self) -> AiSettings:
        return self.app[AI_SETTINGS]  # type: ignore[no-any-return]

    @property
    def service(self) -> AiService:
        return self.app[AI_SERVICE]  # type: ignore[no-any-return]

    async def team(self) -> Team:
        tenant_id = uuid.uuid4()
        async with tenant_transaction(self.pool, tenant_id) as conn:
            await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, 'AI Co')", tenant_id)
        self.tenants.append(tenant_id)
        user_ids = {role: uuid.uuid4() for role in ("owner", "admin", "agent", "viewer")}
        tokens = {
            role: self.signer.issue(user_id=user_id, tenant_id=tenant_id, role=role)[0]
            for role, user_id in user_ids.items()
        }
        return Team(tenant_id, tokens, user_ids)

    async def users_and_number(self, team: Team) -> uuid.UUID:
        """Store the team's users and one WhatsApp number; the number's id."""
        number_id = uuid.uuid4()
        async with tenant_transaction(self.pool, team.tenant_id) as conn:
            for role, user_id in team.user_ids.items():
                await conn.execute(
                    "INSERT INTO users (tenant_id, id, email, name, role)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    team.tenant_id, user_id, f"{role}-{user_id.hex[:8]}@example.ae", role, role,
                )  # fmt: skip
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97143000000', $5)",
                team.tenant_id, number_id, str(10**14 + secrets.randbelow(10**14)),
                str(10**14 + secrets.randbelow(10**14)), b"not-used",
            )  # fmt: skip
        return number_id

    async def contact(self, team: Team) -> uuid.UUID:
        contact_id = uuid.uuid4()
        async with tenant_transaction(self.pool, team.tenant_id) as conn:
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
                team.tenant_id, contact_id, secrets.token_bytes(32),
            )  # fmt: skip
        return contact_id

    async def request(
        self, team: Team, role: str, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {team.tokens[role]}"}
        async with self.http.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            if response.status == 204:
                return 204, None
            if response.content_type == "text/csv":
                return response.status, await response.text()
            return response.status, await response.json(content_type=None)

    def of(self, kind: str, key: str, value: str) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == kind and p.get(key) == value]

    async def wait_for(self, kind: str, key: str, value: str, count: int = 1) -> list[Any]:
        async with asyncio.timeout(10):
            while len(self.of(kind, key, value)) < count:  # noqa: ASYNC110  # a bus callback fills it
                await asyncio.sleep(0.05)
        return self.of(kind, key, value)

    async def set_provider(self, team: Team, provider: str, key: str, **extra: Any) -> None:
        body = {"provider": provider, "api_key": key, **extra}
        status, answer = await self.request(team, "owner", "PUT", "/api/v1/ai/settings", body)
        assert status == 200, answer


async def _fake(app: Any) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture(scope="module")
async def ai_world(settings: Settings, db_pool: Any) -> AsyncIterator[AiWorld]:
    from majlis.http.tokens import TokenSigner

    openai = FakeProviderState({OPENAI_KEY}, {"gpt-4o-mini", "gpt-4.1"})
    gemini = FakeProviderState({GEMINI_KEY}, {"gemini-2.0-flash"})
    fake_openai, fake_gemini = (
        await _fake(create_fake_openai(openai)),
        await _fake(create_fake_gemini(gemini)),
    )
    configured = settings.model_copy(update={"outbox_poll_interval": 0.05})
    app = create_app(configured)
    app[AI_SETTINGS] = AiSettings(
        openai_base_url=str(fake_openai.make_url("")).rstrip("/"),
        gemini_base_url=str(fake_gemini.make_url("")).rstrip("/"),
        backoff_base_seconds=0.01,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    bus = await Bus.connect(settings, name="majlis-tests-chatflow-ai")
    events: list[tuple[str, dict[str, Any]]] = []
    stop_observing = await observe(
        bus,
        "chatflow-ai",
        (
            "chatflow.#",
            "command.broadcast.send_message",
        ),
        lambda kind, payload: events.append((kind, payload)),
    )
    http = aiohttp.ClientSession()
    world = AiWorld(
        configured, db_pool, str(server.make_url("")).rstrip("/"), http,
        TokenSigner.from_settings(settings), openai, gemini, app, events,
    )  # fmt: skip
    yield world
    await http.close()
    await stop_observing()
    await bus.close()
    await server.close()
    await fake_openai.close()
    await fake_gemini.close()
    for tenant_id in world.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
