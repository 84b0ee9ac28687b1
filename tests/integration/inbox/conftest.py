"""The inbox behind a gateway, in-process, on the real PostgreSQL, Redis and RabbitMQ.

`inbox_world` (one per test module) runs the inbox service and a gateway that proxies to it,
and builds teams: a tenant with a WhatsApp number, an owner, an admin, two agents and a
viewer, each signed in through the gateway like the dashboard. Customer messages arrive the
way webhook-ingest delivers them: a `webhook_ingest.message.received` event on the bus.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestServer

from inbox.app import create_app as create_inbox
from inbox.deps import INBOX_DEPS, InboxDeps
from majlis.crypto import FieldCipher, KeyRing
from majlis.db import tenant_transaction
from majlis.events import Envelope, make_envelope, parse_envelope
from majlis.events.webhook_ingest import MessageReceived
from majlis.messaging import Bus, Publisher, QueueSpec, dlq_name, queue_name, retry_queue_name
from majlis.settings import Settings
from majlis.testing.browser import Browser, GatewayUnderTest
from majlis.testing.stack import gateway_settings, start_gateway


def meta_id() -> str:
    """A Graph node id (phone_number_id, WABA id) no other test uses."""
    return str(10**14 + secrets.randbelow(9 * 10**14))


def fresh_phone() -> str:
    """A UAE mobile number (E.164) no other test uses."""
    return "+97150" + str(secrets.randbelow(10**7)).zfill(7)


def fresh_wamid() -> str:
    return "wamid.test" + secrets.token_hex(16)


@dataclass
class Team:
    """One tenant: its number and its people, signed in through the gateway."""

    tenant_id: uuid.UUID
    number_id: uuid.UUID
    phone_number_id: str
    waba_id: str
    people: dict[str, Browser]
    user_ids: dict[str, uuid.UUID]

    @property
    def owner(self) -> Browser:
        return self.people["owner"]

    @property
    def admin(self) -> Browser:
        return self.people["admin"]

    @property
    def agent(self) -> Browser:
        return self.people["agent"]

    @property
    def agent2(self) -> Browser:
        return self.people["agent2"]

    @property
    def viewer(self) -> Browser:
        return self.people["viewer"]


@dataclass
class InboxWorld:
    """The running inbox and gateway, and ways to make teams and customer messages."""

    gateway: GatewayUnderTest
    inbox_url: str
    settings: Settings
    pool: Any
    publisher: Publisher
    cipher: FieldCipher
    deps: InboxDeps  # the running inbox's own (for its background jobs, run by hand)
    teams: list[Team] = field(default_factory=list)
    fresh_phone = staticmethod(fresh_phone)
    fresh_wamid = staticmethod(fresh_wamid)

    async def team(self) -> Team:
        """A fresh tenant with a number and five people (owner, admin, 2 agents, viewer)."""
        owner, _, tenant_id = await self.gateway.owner()
        people = {"owner": owner}
        for name, role in (
            ("admin", "admin"),
            ("agent", "agent"),
            ("agent2", "agent"),
            ("viewer", "viewer"),
        ):
            people[name], _ = await self.gateway.member(owner, role)
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

    def message_event(
        self,
        team: Team,
        *,
        phone: str,
        text: str = "Hello",
        name: str | None = "Customer",
        wamid: str | None = None,
        sent_at: datetime | None = None,
        message: dict[str, Any] | None = None,
    ) -> Envelope:
        """What webhook-ingest publishes for one customer text (or `message`) to `team`."""
        moment = sent_at or datetime.now(UTC)
        wa_id = phone.lstrip("+")
        body = message or {"type": "text", "text": {"body": text}}
        item = {
            "from": wa_id,
            "id": wamid or fresh_wamid(),
            "timestamp": str(int(moment.timestamp())),
        }
        event = MessageReceived(
            phone_number_id=team.phone_number_id,
            waba_id=team.waba_id,
            message={**item, **body},
            contact={"wa_id": wa_id, "profile": {"name": name}} if name else None,
            received_at=moment,
        )
        return make_envelope(event, tenant_id=team.tenant_id)

    async def inbound(self, team: Team, **kwargs: Any) -> tuple[uuid.UUID, uuid.UUID]:
        """A customer message through the bus; returns (conversation id, message id) once stored."""
        envelope = self.message_event(team, **kwargs)
        wamid = envelope.payload["message"]["id"]
        await self.publisher.publish(envelope)
        return await self.stored(team, wamid)

    async def lead(
        self,
        team: Team,
        contact_id: uuid.UUID,
        *,
        stage: str = "qualified",
        conversation_id: uuid.UUID | None = None,
        **data: Any,
    ) -> uuid.UUID:
        """A lead of the contact as chatflow stores one (its data sealed under "leads.data")."""
        lead_id = uuid.uuid4()
        sealed = self.deps.cipher.encrypt(
            orjson.dumps(data), tenant_id=team.tenant_id, field="leads.data"
        )
        async with tenant_transaction(self.pool, team.tenant_id, "system") as conn:
            await conn.execute(
                "INSERT INTO leads (tenant_id, id, contact_id, conversation_id, stage, source,"
                " data_enc) VALUES ($1, $2, $3, $4, $5, 'flow', $6)",
                team.tenant_id, lead_id, contact_id, conversation_id, stage, sealed,
            )  # fmt: skip
        return lead_id

    async def campaign(
        self, team: Team, *phones: str, contact_ids: Sequence[uuid.UUID | None] = ()
    ) -> uuid.UUID:
        """A campaign, as the broadcast service snapshots one, that was sent to these numbers
        (the i-th row naming contact_ids[i], if given: the audience came from contacts)."""
        cipher, indexer, tenant_id = self.deps.cipher, self.deps.indexer, team.tenant_id
        template_id, campaign_id = uuid.uuid4(), uuid.uuid4()
        contacts = list(contact_ids) + [None] * (len(phones) - len(contact_ids))
        async with tenant_transaction(self.pool, tenant_id, "owner") as conn:
            await conn.execute(
                "INSERT INTO templates (tenant_id, id, number_id, waba_id, name, language,"
                " category, content_enc) VALUES ($1, $2, $3, '1', $4, 'en', 'MARKETING',"
                " '\\x00')",
                tenant_id, template_id, team.number_id, f"offer_{template_id.hex[:8]}",
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO campaigns (tenant_id, id, name, number_id, template_id, language,"
                " parameters_enc, audience_enc, state) VALUES ($1, $2, 'Eid', $3, $4, 'en',"
                " '\\x00', '\\x00', 'completed')",
                tenant_id, campaign_id, team.number_id, template_id,
            )  # fmt: skip
            for seq, (phone, contact_id) in enumerate(zip(phones, contacts, strict=True)):
                field = "campaign_recipients.phone"
                await conn.execute(
                    "INSERT INTO campaign_recipients (tenant_id, id, campaign_id, seq, phone_enc,"
                    " phone_bidx, contact_id, parameters_enc, state, sent_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'delivered', now())",
                    tenant_id, uuid.uuid4(), campaign_id, seq,
                    cipher.encrypt(phone, tenant_id=tenant_id, field=field),
                    indexer.value(phone, tenant_id=tenant_id, field=field), contact_id,
                    cipher.encrypt(b'{"name": "Layla"}', tenant_id=tenant_id,
                                   field="campaign_recipients.parameters"),
                )  # fmt: skip
        return campaign_id

    async def stored(
        self, team: Team, wamid: str, *, within: float = 10.0
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """Wait until the inbox stored the message with `wamid`."""

        async with asyncio.timeout(within):
            while True:
                async with tenant_transaction(self.pool, team.tenant_id) as conn:
                    row = await conn.fetchrow(
                        "SELECT conversation_id, id FROM messages WHERE wamid = $1", wamid
                    )
                if row is not None:
                    return row["conversation_id"], row["id"]
                await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
async def inbox_world(
    settings: Settings, graph_simulator: str, db_pool: Any
) -> AsyncIterator[InboxWorld]:
    inbox_settings = settings.model_copy(update={"graph_api_url": graph_simulator})
    inbox = TestServer(create_inbox(inbox_settings), host="127.0.0.1")
    await inbox.start_server()
    inbox_url = str(inbox.make_url("")).rstrip("/")
    configured = gateway_settings(settings, graph_simulator, inbox_url=inbox_url)
    server, session = await start_gateway(configured)
    gateway = GatewayUnderTest(
        str(server.make_url("")).rstrip("/"), server.app, configured, session
    )
    bus = await Bus.connect(settings, name="majlis-tests-inbox")
    publisher = Publisher(bus)
    world = InboxWorld(
        gateway,
        inbox_url,
        inbox_settings,
        db_pool,
        publisher,
        FieldCipher(KeyRing.from_settings(settings)),
        inbox.app[INBOX_DEPS],
    )
    yield world
    await bus.close()
    await session.close()
    await server.close()
    await inbox.close()
    for tenant_id in gateway.tenants:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)


class InboxEvents:
    """The inbox's conversation and audit events, seen on a queue of the test's own."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.seen: list[Envelope] = []
        self.ids: set[uuid.UUID] = set()

    async def start(self) -> None:
        self.bus = await Bus.connect(self.settings, name="majlis-tests-events")
        self.spec = QueueSpec(
            f"t{uuid.uuid4().hex[:10]}.probe",
            ("inbox.conversation.updated", "inbox.audit.recorded"),
        )
        await self.bus.declare_topology([self.spec])
        self.channel = await self.bus.channel(publisher_confirms=False)
        self.queue = await self.channel.declare_queue(
            queue_name(self.bus.prefix, self.spec.name), passive=True
        )

    def _add(self, envelope: Envelope) -> None:
        if envelope.id not in self.ids:
            self.ids.add(envelope.id)
            self.seen.append(envelope)

    async def close(self) -> None:
        # Only this probe's queues: delete_topology would also drop the run's exchanges.
        prefix, name = self.bus.prefix, self.spec.name
        await self.channel.queue_delete(queue_name(prefix, name))
        await self.channel.queue_delete(dlq_name(prefix, name))
        for attempt in range(1, len(self.bus.retry_delays_ms) + 1):
            await self.channel.queue_delete(retry_queue_name(prefix, name, attempt))
        await self.channel.close()
        await self.bus.close()

    def _find(self, tenant_id: uuid.UUID, kind: str, expected: dict[str, Any]) -> Any:
        for env in self.seen:
            if (env.tenant_id, env.type) == (tenant_id, kind) and all(
                env.payload.get(k) == v for k, v in expected.items()
            ):
                return env.payload
        return None

    async def wait(
        self, tenant_id: uuid.UUID, kind: str, within: float = 10.0, **expected: Any
    ) -> dict[str, Any]:
        """The first event of `kind` for the tenant whose payload has `expected` values."""
        expected = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in expected.items()}
        try:
            async with asyncio.timeout(within):
                while (found := self._find(tenant_id, kind, expected)) is None:
                    message = await self.queue.get(no_ack=True, fail=False)
                    if message is None:
                        await asyncio.sleep(0.05)
                    else:
                        self._add(parse_envelope(message.body))
        except TimeoutError:
            seen = [(e.type, e.payload) for e in self.seen if e.tenant_id == tenant_id]
            raise AssertionError(f"no {kind} {expected} among {seen}") from None
        return dict(found)


@pytest.fixture
async def events(inbox_world: Any) -> AsyncIterator[InboxEvents]:
    probe = InboxEvents(inbox_world.settings)
    await probe.start()
    yield probe
    await probe.close()
