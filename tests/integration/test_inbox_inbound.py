"""The inbox consuming webhook events, against the real PostgreSQL, RabbitMQ and the simulator.

The inbox app runs in-process (consumer, outbox relay, media endpoint); events are published
the way webhook-ingest publishes them (same parsing and envelope code), and one test drives
the whole pipeline: simulator -> webhook-ingest -> bus -> inbox -> media download.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import secrets
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inbox.app import create_app as create_inbox
from inbox.content import message_content
from inbox.repository import apply_pending_statuses
from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.db import tenant_transaction
from majlis.events import Envelope, make_envelope, parse_envelope
from majlis.graphsim import SimulatorConfig
from majlis.graphsim.testing import running_simulator
from majlis.http.tokens import TokenSigner
from majlis.messaging import PLATFORM_QUEUES, Bus, Publisher, delete_topology, queue_name
from majlis.settings import Settings
from webhook_ingest.app import create_app as create_ingest
from webhook_ingest.envelopes import envelope_for
from webhook_ingest.parsing import parse_webhook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
FIXTURE_NUMBER, FIXTURE_WABA = "220000000000002", "310000000000001"
MESSAGE_FIXTURES = sorted(p.stem for p in FIXTURES.glob("message__*.json"))
OUT_WAMID = "wamid.HBgMOTcxNTAxMjM0NTY3FQIAERgSMDAwMDAwMDAwMDAwMDAwMDAA"
# A 1x1 PNG, as a customer's photo.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

Client = TestClient[web.Request, web.Application]


def meta_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


class Tenant:
    """A tenant with one active number (token encrypted as the platform stores it)."""

    def __init__(self, tenant_id: uuid.UUID, pnid: str, waba: str, token: str) -> None:
        self.id, self.pnid, self.waba, self.token = tenant_id, pnid, waba, token
        self.number_id = uuid.uuid4()

    def items(self, name: str) -> list[Any]:
        """The parsed items of a fixture, addressed to this tenant's number."""
        text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
        text = text.replace(FIXTURE_NUMBER, self.pnid).replace(FIXTURE_WABA, self.waba)
        return parse_webhook(json.loads(text)).items

    def envelopes(self, name: str) -> list[Envelope]:
        """What webhook-ingest publishes for a fixture."""
        return [envelope_for(i, self.id, datetime.now(UTC)) for i in self.items(name)]


@pytest.fixture
def cipher(settings: Settings) -> FieldCipher:
    return FieldCipher(KeyRing.from_settings(settings))


@pytest.fixture
async def make_tenant(
    db_pool: Any, tenant_factory: Any, cipher: FieldCipher
) -> Callable[[], Awaitable[Tenant]]:
    async def make() -> Tenant:
        tenant = Tenant(await tenant_factory(), meta_id(), meta_id(), f"EAA{secrets.token_hex(8)}")
        token_enc = cipher.encrypt(
            tenant.token, tenant_id=tenant.id, field="whatsapp_numbers.access_token"
        )
        async with tenant_transaction(db_pool, tenant.id, "owner") as conn:
            await conn.execute(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
                " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97143000000', $5)",
                tenant.id, tenant.number_id, tenant.pnid, tenant.waba, token_enc,
            )  # fmt: skip
        return tenant

    return make


@pytest.fixture
async def platform_bus(bus: Bus) -> AsyncIterator[Bus]:
    """The platform topology under the run's prefix; deleted after the test."""
    await bus.declare_topology(PLATFORM_QUEUES)
    channel = await bus.channel(publisher_confirms=False)
    for name in ("inbox.events", "inbox.statuses", "chatflow.events"):
        await (await channel.declare_queue(queue_name(bus.prefix, name), passive=True)).purge()
    await channel.close()
    yield bus
    channel = await bus.channel(publisher_confirms=False)
    await delete_topology(channel, bus.prefix, PLATFORM_QUEUES, bus.retry_delays_ms)
    await channel.close()


@pytest.fixture
async def ingest(settings: Settings, platform_bus: Bus) -> AsyncIterator[TestServer]:
    """webhook-ingest on a real local port (the simulator posts webhooks to it)."""
    server = TestServer(create_ingest(settings))
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def sim(settings: Settings, ingest: TestServer) -> AsyncIterator[str]:
    """The Graph API simulator (strict: only registered numbers and their tokens work)."""
    config = SimulatorConfig(
        app_secret=settings.meta_app_secret.get_secret_value(),
        webhook_url=str(ingest.make_url("/webhooks/whatsapp")),
        strict=True,
        seed=7,
        webhook_batch_window_ms=5,
    )
    async with running_simulator(config) as url:
        yield url


@pytest.fixture
async def inbox(settings: Settings, sim: str) -> AsyncIterator[Client]:
    """The inbox app (consumer, relay, media endpoint) using the simulator as Graph API."""
    app = create_inbox(settings.model_copy(update={"graph_api_url": sim}))
    async with TestClient(TestServer(app)) as client:
        yield client


async def register(client: Client, sim: str, tenant: Tenant) -> None:
    """Tell the (strict) simulator the tenant's number and token."""
    async with client.session.post(
        f"{sim}/_sim/numbers",
        json={"phone_number_id": tenant.pnid, "token": tenant.token, "waba_id": tenant.waba},
    ) as response:
        assert response.status == 201


async def publish(bus: Bus, envelopes: list[Envelope]) -> None:
    await Publisher(bus).publish_many(envelopes)


async def eventually(
    db_pool: Any, tenant: uuid.UUID, sql: str, expected: Any, *args: Any, within: float = 10.0
) -> None:
    """Poll a tenant query until it returns `expected`."""
    value: Any = None
    try:
        async with asyncio.timeout(within):
            while True:
                async with tenant_transaction(db_pool, tenant, readonly=True) as conn:
                    value = await conn.fetchval(sql, *args)
                if value == expected:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{sql!r} stayed {value!r}, expected {expected!r}") from None


def strings_in(value: Any) -> list[str]:
    """Every string of 4+ characters in a JSON value (what must not appear in clear)."""
    if isinstance(value, str):
        return [value] if len(value) >= 4 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


async def stored_events(bus: Bus, tenant: uuid.UUID, count: int) -> list[Envelope]:
    """`inbox.message.stored` envelopes of a tenant that reached chatflow's queue."""
    channel = await bus.channel(publisher_confirms=False)
    found: list[Envelope] = []
    try:
        queue = await channel.declare_queue(queue_name(bus.prefix, "chatflow.events"), passive=True)
        async with asyncio.timeout(10):
            while len(found) < count:
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                envelope = parse_envelope(message.body)
                if envelope.tenant_id == tenant:
                    found.append(envelope)
        await asyncio.sleep(0.3)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            envelope = parse_envelope(message.body)
            assert envelope.tenant_id != tenant, "more stored events than messages"
    finally:
        await channel.close()
    return found


async def test_every_message_type_is_stored_once_and_encrypted(
    inbox: Client,
    sim: str,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    admin_pool: Any,
    cipher: FieldCipher,
) -> None:
    tenant = await make_tenant()
    await register(inbox, sim, tenant)
    sent = {name: tenant.items(name)[0].data for name in MESSAGE_FIXTURES}
    await publish(platform_bus, [e for n in MESSAGE_FIXTURES for e in tenant.envelopes(n)])
    count = "SELECT count(*) FROM messages"
    await eventually(db_pool, tenant.id, count, len(sent))
    rows = await admin_pool.fetch(
        "SELECT wamid, type, body_enc, status, direction, conversation_id FROM messages"
        " WHERE tenant_id = $1",
        tenant.id,
    )
    by_wamid = {r["wamid"]: r for r in rows}
    for name, message in sent.items():
        row = by_wamid[message["id"]]
        assert (row["type"], row["status"], row["direction"]) == (
            message["type"], "received", "inbound"
        ), name  # fmt: skip
        raw = bytes(row["body_enc"])
        assert raw[0] == 1, name  # the version byte of majlis.crypto's format
        for text in strings_in(message_content(message)):
            assert text.encode() not in raw, name
        clear = cipher.decrypt(raw, tenant_id=tenant.id, field="messages.body")
        assert json.loads(clear) == message_content(message), name
    contacts = await admin_pool.fetch(
        "SELECT phone_enc, name_enc, bsuid_enc FROM contacts WHERE tenant_id = $1", tenant.id
    )
    assert len(contacts) == 4  # three people by phone, one by BSUID only
    for contact in contacts:
        for column in ("phone_enc", "name_enc", "bsuid_enc"):
            value = contact[column]
            if value is not None:
                assert bytes(value)[0] == 1
                for clear_text in (b"971501234567", b"Omar", b"Ana", b"Layla", b"AE.1349"):
                    assert clear_text not in bytes(value)
    # Each person has one open conversation on the number, with the 24-hour window tracked.
    assert len({r["conversation_id"] for r in rows}) == 4
    open_windows = "SELECT count(*) FROM conversations WHERE last_customer_message_at IS NOT NULL"
    await eventually(db_pool, tenant.id, open_windows, 4)
    # Media rows are written with the message; the simulator accepts the number's token but
    # knows none of these media ids, so each download is given up with Meta's error code.
    media = "SELECT count(*) FROM media WHERE status = 'failed' AND failure = 'graph_error_100'"
    await eventually(db_pool, tenant.id, media, 5)
    events = await stored_events(platform_bus, tenant.id, len(sent))
    assert {e.payload["wamid"] for e in events} == {m["id"] for m in sent.values()}
    for event in events:
        assert set(event.payload) == {
            "message_id", "conversation_id", "contact_id", "number_id", "type", "wamid"
        }  # fmt: skip


async def test_three_deliveries_store_one_message(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
) -> None:
    tenant = await make_tenant()
    [envelope] = tenant.envelopes("message__text")
    # Two redeliveries with the same event id, and one as if our ingest's ids had changed.
    renamed = envelope.model_copy(update={"id": uuid.uuid4()})
    await publish(platform_bus, [envelope, envelope, renamed])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 2)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 1
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 1
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 1
    assert len(await stored_events(platform_bus, tenant.id, 1)) == 1


async def _outbound(db_pool: Any, tenant: Tenant, wamid: str, status: str = "sent") -> None:
    """An outbound message as the dispatcher will record it, then apply kept statuses."""
    contact_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    async with tenant_transaction(db_pool, tenant.id) as conn:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, id, bsuid_bidx) VALUES ($1, $2, $3)",
            tenant.id, contact_id, secrets.token_bytes(32),
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id)"
            " VALUES ($1, $2, $3, $4)",
            tenant.id, conversation_id, contact_id, tenant.number_id,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO messages (tenant_id, id, conversation_id, direction, wamid, type,"
            " status) VALUES ($1, $2, $3, 'outbound', $4, 'text', $5)",
            tenant.id, uuid.uuid4(), conversation_id, wamid, status,
        )  # fmt: skip
        await apply_pending_statuses(conn, wamid)


async def _status_of(db_pool: Any, tenant: Tenant, wamid: str) -> tuple[str, int | None]:
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        row = await conn.fetchrow("SELECT status, error_code FROM messages WHERE wamid = $1", wamid)
    assert row is not None
    return row["status"], row["error_code"]


async def _deliver_statuses(bus: Bus, db_pool: Any, tenant: Tenant, names: list[str]) -> None:
    """Publish status fixtures one at a time, each handled before the next is sent."""
    for name in names:
        before = await _claims(db_pool, tenant)
        await publish(bus, tenant.envelopes(name))
        await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", before + 1)


async def _claims(db_pool: Any, tenant: Tenant) -> int:
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM processed_messages")
    return count


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["status__read", "status__delivered", "status__sent"], ("read", None)),
        (["status__delivered", "status__played"], ("read", None)),
        (["status__failed", "status__delivered", "status__sent"], ("failed", 131026)),
        (["status__failed", "status__read"], ("read", 131026)),
        (["status__delivered", "status__failed"], ("delivered", None)),
    ],
)
async def test_statuses_out_of_order_end_in_the_right_state(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    order: list[str],
    final: tuple[str, int | None],
) -> None:
    tenant = await make_tenant()
    await _outbound(db_pool, tenant, OUT_WAMID)
    await _deliver_statuses(platform_bus, db_pool, tenant, order)
    assert await _status_of(db_pool, tenant, OUT_WAMID) == final


async def test_status_before_its_message_is_kept_and_applied(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
) -> None:
    tenant = await make_tenant()
    await _deliver_statuses(platform_bus, db_pool, tenant, ["status__delivered", "status__sent"])
    await publish(platform_bus, tenant.envelopes("status__delivered"))  # a redelivery
    await _deliver_statuses(platform_bus, db_pool, tenant, ["status__read"])
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        kept = await conn.fetch("SELECT status FROM pending_statuses WHERE wamid = $1", OUT_WAMID)
    assert sorted(r["status"] for r in kept) == ["delivered", "read", "sent"]
    await _outbound(db_pool, tenant, OUT_WAMID, status="queued")
    assert await _status_of(db_pool, tenant, OUT_WAMID) == ("read", None)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM pending_statuses") == 0


def _status_for(tenant: Tenant, name: str, wamid: str, echo: str | None = None) -> list[Envelope]:
    """A status fixture for `wamid`; with `echo`, as if its send asked Meta to echo that."""
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    text = text.replace(FIXTURE_NUMBER, tenant.pnid).replace(FIXTURE_WABA, tenant.waba)
    document = json.loads(text.replace(OUT_WAMID, wamid))
    if echo is not None:
        for entry in document["entry"]:
            for change in entry["changes"]:
                for status in change["value"]["statuses"]:
                    status["biz_opaque_callback_data"] = echo
    items = parse_webhook(document).items
    return [envelope_for(item, tenant.id, datetime.now(UTC)) for item in items]


async def test_a_campaign_sends_statuses_are_not_kept_but_a_known_message_still_moves(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
) -> None:
    """A campaign's send echoes its recipient's id bare and is never an inbox message: its
    statuses are not kept for later (three a recipient, for days). A reply's send (tagged
    echo) whose status overtook its send result is kept; a message the inbox has moves
    whatever it echoed (sends made before the tag existed echo a bare id too)."""
    tenant = await make_tenant()
    campaign, reply, known = "wamid.campaign1", "wamid.reply1", "wamid.known1"
    await _outbound(db_pool, tenant, known)
    before = await _claims(db_pool, tenant)
    await publish(
        platform_bus,
        _status_for(tenant, "status__delivered", campaign, str(uuid.uuid4()))
        + _status_for(tenant, "status__delivered", reply, f"i:{uuid.uuid4()}")
        + _status_for(tenant, "status__read", known, str(uuid.uuid4())),
    )
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", before + 3)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        kept = await conn.fetch("SELECT wamid FROM pending_statuses")
    assert [r["wamid"] for r in kept] == [reply]
    assert await _status_of(db_pool, tenant, known) == ("read", None)


async def test_a_customer_message_does_not_wait_behind_a_flood_of_statuses(
    settings: Settings,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
) -> None:
    """A campaign brings three statuses per recipient, thousands a second: the customers'
    messages have a queue of their own, so one that arrives behind a flood of statuses is
    stored long before the flood is worked off (with one queue it came after all of them).
    Both wait in the broker before the inbox starts, as after a pause or a restart."""
    tenant = await make_tenant()
    flood = 2000
    statuses = [
        envelope
        for n in range(flood)
        for envelope in _status_for(tenant, "status__delivered", f"wamid.flood{n}")
    ]
    assert len({e.id for e in statuses}) == flood
    await publish(platform_bus, statuses)
    await publish(platform_bus, tenant.envelopes("message__text"))
    handled = None
    async with TestClient(TestServer(create_inbox(settings))), asyncio.timeout(30):
        while handled is None:
            async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
                row = await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM messages WHERE direction = 'inbound') AS stored,"
                    " (SELECT count(*) FROM processed_messages) AS handled"
                )
            assert row is not None
            if row["stored"]:
                handled = row["handled"]
            await asyncio.sleep(0.02)
    assert handled < flood / 2, f"the message waited for {handled} of {flood} statuses"


async def test_contact_is_found_by_blind_index_in_another_format(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    settings: Settings,
    cipher: FieldCipher,
) -> None:
    tenant = await make_tenant()
    indexer = BlindIndexer.from_settings(settings)
    known = uuid.uuid4()
    national = "050 123 4567"  # how a UAE agent types +971 50 123 4567 (the fixture's sender)
    async with tenant_transaction(db_pool, tenant.id) as conn:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx) VALUES ($1, $2, $3, $4)",
            tenant.id, known,
            cipher.encrypt("+971501234567", tenant_id=tenant.id, field="contacts.phone"),
            indexer.phone(national, tenant_id=tenant.id),
        )  # fmt: skip
    await publish(platform_bus, tenant.envelopes("message__text"))
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM messages", 1)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 1
        assert await conn.fetchval("SELECT contact_id FROM conversations") == known
        # The profile name the contact lacked is filled in, encrypted.
        name_enc = await conn.fetchval("SELECT name_enc FROM contacts WHERE id = $1", known)
    assert cipher.decrypt_text(name_enc, tenant_id=tenant.id, field="contacts.name") == (
        "أمل الهاشمي"
    )


async def test_media_flows_from_the_simulator_to_an_authorised_download(
    inbox: Client,
    sim: str,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    admin_pool: Any,
    settings: Settings,
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    await register(inbox, sim, tenant)
    image = {"data": base64.b64encode(PNG).decode(), "mime_type": "image/png", "caption": "إيصال"}
    async with inbox.session.post(
        f"{sim}/_sim/inbound",
        json={"phone_number_id": tenant.pnid, "from": "971501112233", "image": image},
    ) as response:
        assert response.status == 201
    stored = "SELECT count(*) FROM media WHERE status = 'stored'"
    await eventually(db_pool, tenant.id, stored, 1, within=15)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        media_id = await conn.fetchval("SELECT id FROM media")
    raw = await admin_pool.fetchval("SELECT content_enc FROM media WHERE id = $1", media_id)
    assert bytes(raw)[0] == 1
    assert PNG not in bytes(raw)

    signer = TokenSigner.from_settings(settings)
    token, _ = signer.issue(user_id=uuid.uuid4(), tenant_id=tenant.id, role="agent")
    other_token, _ = signer.issue(user_id=uuid.uuid4(), tenant_id=other.id, role="owner")
    path = f"/api/v1/media/{media_id}"
    response = await inbox.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert await response.read() == PNG
    assert response.content_type == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await inbox.get(path)).status == 401
    assert (await inbox.get(path, headers={"Authorization": "Bearer nope"})).status == 401
    foreign = await inbox.get(path, headers={"Authorization": f"Bearer {other_token}"})
    assert foreign.status == 404
    unknown = await inbox.get(
        f"/api/v1/media/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}
    )
    assert unknown.status == 404
    # Row-level security: the other tenant sees none of it at the SQL level either.
    async with tenant_transaction(db_pool, other.id, readonly=True) as conn:
        for table in ("messages", "contacts", "conversations", "media"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0  # noqa: S608


@pytest.mark.parametrize(
    "fixture", ["message__text", "echo__text", "contact_sync__add", "history__threads"]
)
async def test_message_for_another_tenants_number_is_not_stored_under_it(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    fixture: str,
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    # An event claiming `other` as tenant but naming `tenant`'s number (a customer's message,
    # an echo or an address-book contact of the business app): RLS hides the number, so
    # nothing is stored for anyone.
    forged = (
        _history(tenant, as_tenant=other.id)  # recent enough to be imported
        if fixture == "history__threads"
        else [envelope_for(i, other.id, datetime.now(UTC)) for i in tenant.items(fixture)]
    )
    await publish(platform_bus, forged)
    await eventually(db_pool, other.id, "SELECT count(*) FROM processed_messages", len(forged))
    for who in (tenant, other):
        async with tenant_transaction(db_pool, who.id, readonly=True) as conn:
            assert await conn.fetchval("SELECT count(*) FROM messages") == 0
            assert await conn.fetchval("SELECT count(*) FROM contacts") == 0
            # Nor is anyone's number taken for one shared with the WhatsApp Business app.
            assert await conn.fetchval(
                "SELECT bool_and(coexistence_since IS NULL) FROM whatsapp_numbers"
            )


def test_stored_event_has_no_content() -> None:
    from majlis.events.inbox import MessageStored

    fields = set(MessageStored.model_fields)
    assert fields == {"message_id", "conversation_id", "contact_id", "number_id", "type", "wamid"}
    envelope = make_envelope(
        MessageStored(
            message_id=uuid.uuid4(),
            conversation_id=uuid.uuid4(),
            contact_id=uuid.uuid4(),
            number_id=uuid.uuid4(),
            type="text",
            wamid="wamid.x",
        ),
        tenant_id=uuid.uuid4(),
    )
    assert envelope.type == "inbox.message.stored"


async def _events_of(bus: Bus, queue: str, tenant: uuid.UUID, types: set[str]) -> list[Envelope]:
    """The tenant's envelopes of `types` in a queue, read until it stays empty for a moment."""
    channel = await bus.channel(publisher_confirms=False)
    found: list[Envelope] = []
    try:
        source = await channel.declare_queue(queue_name(bus.prefix, queue), passive=True)
        quiet_since = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - quiet_since < 1.0:
            message = await source.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            quiet_since = asyncio.get_running_loop().time()
            envelope = parse_envelope(message.body)
            if envelope.tenant_id == tenant and envelope.type in types:
                found.append(envelope)
    finally:
        await channel.close()
    return found


async def test_an_echo_of_the_business_app_joins_the_thread_once_and_stops_the_bot(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    admin_pool: Any,
    cipher: FieldCipher,
) -> None:
    """Coexistence: what the owner sends from the WhatsApp Business app on the shared number
    lands in the customer's conversation as the business's reply, once however often Meta
    delivers it, already sent, without opening the 24-hour window or counting as unread, and
    the bot that had the conversation stops (the owner is answering in person)."""
    tenant = await make_tenant()
    await publish(platform_bus, tenant.envelopes("message__text"))
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM messages", 1)
    conversation = (
        "SELECT row(controller, status, unread_count, last_customer_message_at)::text"
        " FROM conversations"
    )
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        before = await conn.fetchval(conversation)
        assert before.startswith("(bot,open,1,")
    [echo] = tenant.envelopes("echo__text")
    renamed = echo.model_copy(update={"id": uuid.uuid4()})
    await publish(platform_bus, [echo, echo, renamed])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 3)
    rows = await admin_pool.fetch(
        "SELECT wamid, direction, status, sender_kind, sender_user_id, type, body_enc,"
        " conversation_id FROM messages WHERE tenant_id = $1 ORDER BY seq",
        tenant.id,
    )
    assert [(r["direction"], r["sender_kind"]) for r in rows] == [
        ("inbound", "customer"), ("outbound", "business_app")
    ]  # fmt: skip
    inbound, reply = rows
    sent = echo.payload["message"]
    assert (reply["wamid"], reply["status"], reply["type"]) == (sent["id"], "sent", "text")
    assert reply["sender_user_id"] is None
    assert reply["conversation_id"] == inbound["conversation_id"]
    raw = bytes(reply["body_enc"])
    assert sent["text"]["body"].encode() not in raw
    assert b"971501234567" not in raw
    clear = json.loads(cipher.decrypt(raw, tenant_id=tenant.id, field="messages.body"))
    assert clear == {"type": "text", "text": sent["text"]}
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        after = await conn.fetchval(conversation)
        assert after == before.replace("(bot,", "(human,", 1)
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 1
        latest = await conn.fetchval(
            "SELECT m.wamid FROM conversations c JOIN messages m ON m.seq = c.last_message_seq"
        )
        assert latest == sent["id"]
    # Announced as the business's outbound message, never to the bots as a customer's.
    events = await _events_of(
        platform_bus,
        "broadcast.analytics",
        tenant.id,
        {"inbox.message.added", "inbox.conversation.updated"},
    )
    added = [e.payload for e in events if e.type == "inbox.message.added"]
    assert len(added) == 1
    assert (added[0]["direction"], added[0]["sender_kind"]) == ("outbound", "business_app")
    changes = [e.payload["change"] for e in events if e.type == "inbox.conversation.updated"]
    assert changes == ["created", "controller"]
    # And for the tenant's outbound webhooks (message.sent), once.
    [for_webhooks] = await _events_of(
        platform_bus, "broadcast.webhooks", tenant.id, {"inbox.echo.stored"}
    )
    assert for_webhooks.payload["message_id"] == added[0]["message_id"]
    assert for_webhooks.payload["wamid"] == sent["id"]
    assert len(await stored_events(platform_bus, tenant.id, 1)) == 1  # the customer's only


async def test_an_echo_to_a_new_customer_starts_a_conversation_and_a_resolved_one_stays_resolved(
    inbox: Client,
    sim: str,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    admin_pool: Any,
) -> None:
    """Through the simulator and webhook-ingest: the owner writes from the phone to someone
    who never wrote. The team gets an open conversation with the contact (no window open);
    once resolved, a further echo joins it without reopening it."""
    tenant, other = await make_tenant(), await make_tenant()
    await register(inbox, sim, tenant)

    async def echo(text: str) -> str:
        async with inbox.session.post(
            f"{sim}/_sim/echo",
            json={"phone_number_id": tenant.pnid, "to": "971507770001", "text": text},
        ) as response:
            assert response.status == 201
            wamid: str = (await response.json())["wamid"]
        return wamid

    first = await echo("أهلاً، عرضنا لهذا الأسبوع")
    found = "SELECT count(*) FROM messages WHERE wamid = $1"
    await eventually(db_pool, tenant.id, found, 1, first, within=15)
    async with tenant_transaction(db_pool, tenant.id) as conn:
        row = await conn.fetchrow(
            "SELECT id, status, controller, assigned_user_id, unread_count,"
            " last_customer_message_at FROM conversations"
        )
        assert row is not None
        assert (row["status"], row["controller"], row["assigned_user_id"]) == (
            "open", "human", None
        )  # fmt: skip
        assert (row["unread_count"], row["last_customer_message_at"]) == (0, None)
        phone_enc = await conn.fetchval("SELECT phone_enc FROM contacts")
        assert b"971507770001" not in bytes(phone_enc)
        await conn.execute(
            "UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE id = $1",
            row["id"],
        )
    second = await echo("Our offer ends on Friday")
    await eventually(db_pool, tenant.id, found, 1, second, within=15)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 1
        assert await conn.fetchval("SELECT status FROM conversations") == "resolved"
        assert await conn.fetchval(
            "SELECT array_agg(sender_kind || ':' || status ORDER BY seq) FROM messages"
        ) == ["business_app:sent", "business_app:sent"]
    async with tenant_transaction(db_pool, other.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0


async def test_statuses_of_an_echo_that_came_first_are_applied_when_it_arrives(
    inbox: Client,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
) -> None:
    tenant = await make_tenant()
    [echo] = tenant.envelopes("echo__text")
    wamid = echo.payload["message"]["id"]
    before = await _claims(db_pool, tenant)
    await publish(platform_bus, _status_for(tenant, "status__read", wamid))
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", before + 1)
    await publish(platform_bus, [echo])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM messages", 1)
    assert await _status_of(db_pool, tenant, wamid) == ("read", None)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM pending_statuses") == 0


async def test_the_business_apps_address_book_fills_in_the_contacts(
    inbox: Client,
    sim: str,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    settings: Settings,
    cipher: FieldCipher,
) -> None:
    """Coexistence, through the simulator and webhook-ingest: a contact the owner adds in the
    WhatsApp Business app becomes a contact of the team (the name the business gave it, phone
    and name encrypted); a contact lacking a name gets it; a name already there (the customer's
    profile, an agent's edit) is kept; a contact removed from the phone stays in the CRM. The
    customer's first message then lands on that contact, under the business's name for them."""
    tenant, other = await make_tenant(), await make_tenant()
    await register(inbox, sim, tenant)
    indexer = BlindIndexer.from_settings(settings)
    unnamed, named = uuid.uuid4(), uuid.uuid4()
    async with tenant_transaction(db_pool, tenant.id) as conn:
        for contact_id, phone, name in (
            (unnamed, "+971507770003", None),
            (named, "+971507770004", "Khalid (VIP, prefers Arabic)"),
        ):
            await conn.execute(
                "INSERT INTO contacts (tenant_id, id, phone_enc, phone_bidx, name_enc)"
                " VALUES ($1, $2, $3, $4, $5)",
                tenant.id, contact_id,
                cipher.encrypt(phone, tenant_id=tenant.id, field="contacts.phone"),
                indexer.phone(phone, tenant_id=tenant.id),
                cipher.encrypt(name, tenant_id=tenant.id, field="contacts.name") if name else None,
            )  # fmt: skip

    async def app_contact(phone: str, name: str | None = None, action: str = "add") -> None:
        body = {"phone_number_id": tenant.pnid, "phone": phone, "action": action}
        if name is not None:
            body["name"] = name
        async with inbox.session.post(f"{sim}/_sim/app-contacts", json=body) as response:
            assert response.status == 201

    async def name_of(phone: str) -> str | None:
        async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
            name_enc = await conn.fetchval(
                "SELECT name_enc FROM contacts WHERE phone_bidx = $1",
                indexer.phone(phone, tenant_id=tenant.id),
            )
        if name_enc is None:
            return None
        return cipher.decrypt_text(name_enc, tenant_id=tenant.id, field="contacts.name")

    rate = "SELECT row(coexistence_since IS NOT NULL, send_rate)::text FROM whatsapp_numbers"
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval(rate) == "(f,80)"
    await app_contact("971507770002", "سارة المنصوري")
    await app_contact("971507770003", "Omar Haddad")
    await app_contact("971507770004", "Khalid")
    await app_contact("971507770002", action="remove")
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 4, within=15)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 3
        assert await conn.fetchval("SELECT count(*) FROM contacts WHERE deleted_at IS NULL") == 3
        phone_enc = await conn.fetchval(
            "SELECT phone_enc FROM contacts WHERE id NOT IN ($1, $2)", unnamed, named
        )
    assert b"971507770002" not in bytes(phone_enc)
    assert await name_of("+971507770002") == "سارة المنصوري"
    # The number is shared with the app: Meta holds it to 20 messages/s, and so do we.
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval(rate) == "(t,20)"
    assert await name_of("+971507770003") == "Omar Haddad"
    assert await name_of("+971507770004") == "Khalid (VIP, prefers Arabic)"
    changes = await _events_of(
        platform_bus, "broadcast.webhooks", tenant.id, {"inbox.contact.changed"}
    )
    seen = sorted((e.payload["change"], e.payload["contact_id"] == str(unnamed)) for e in changes)
    assert seen == [("created", False), ("updated", True)]
    # The customer writes for the first time: their conversation is with that very contact.
    async with inbox.session.post(
        f"{sim}/_sim/inbound",
        json={"phone_number_id": tenant.pnid, "from": "971507770002", "text": "مرحبا",
              "name": "Sara"},
    ) as response:  # fmt: skip
        assert response.status == 201
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM messages", 1, within=15)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 3
        assert await conn.fetchval(
            "SELECT ct.phone_bidx FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        ) == indexer.phone("+971507770002", tenant_id=tenant.id)
    assert await name_of("+971507770002") == "سارة المنصوري"
    async with tenant_transaction(db_pool, other.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 0


def _history(
    tenant: Tenant, days_ago: float = 10.0, as_tenant: uuid.UUID | None = None
) -> list[Envelope]:
    """The history fixture's threads on the tenant's number, as if sent `days_ago` (Meta
    shares the 180 days before onboarding; the fixture's own times are fixed); published as
    the tenant's, or as `as_tenant`'s."""
    start = int(datetime.now(UTC).timestamp() - days_ago * 86400)
    envelopes = []
    for item in tenant.items("history__threads"):
        thread = item.data["thread"]
        messages = [
            {**m, "timestamp": str(start + int(m["timestamp"]) - 1757500000)}
            for m in thread["messages"]
        ]
        data = {**item.data, "thread": {**thread, "messages": messages}}
        changed = dataclasses.replace(item, data=data)
        envelopes.append(envelope_for(changed, as_tenant or tenant.id, datetime.now(UTC)))
    return envelopes


async def _all_pages(
    inbox: Client, path: str, auth: dict[str, str], *, limit: int
) -> list[dict[str, Any]]:
    """Every message of a conversation through the API, newest first, `limit` a page, paging
    back by the `before` cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"?limit={limit}&before={cursor}" if cursor else f"?limit={limit}"
        response = await inbox.get(path + query, headers=auth)
        assert response.status == 200, await response.text()
        page = await response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_the_business_apps_chat_history_comes_before_the_live_thread(
    inbox: Client,
    sim: str,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    admin_pool: Any,
    settings: Settings,
    cipher: FieldCipher,
) -> None:
    """Coexistence: the app's chat history of the months before onboarding is imported once
    (redelivered, or with a message that also came live), encrypted, each message at its own
    time and last status, and reads before the live messages of the customer's conversation
    whatever order it arrived in. It never opens the window, counts as unread, reaches the bots
    or reopens anything; a customer known only from history gets a resolved conversation. A
    media placeholder gets its content, and the file, when the webhook describing it comes."""
    tenant = await make_tenant()
    await register(inbox, sim, tenant)
    await publish(platform_bus, tenant.envelopes("message__text"))  # the customer, live
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM messages", 1)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        before = await conn.fetchrow("SELECT * FROM conversations")
    assert before is not None
    first, second = _history(tenant)
    older = _history(tenant, days_ago=40)[0]  # phase 1 arrives after phase 0
    older_thread = older.payload["thread"]
    # ... with a message that also came live (the same wamid): it is not stored twice.
    [live] = tenant.items("message__text")
    also_live = {**older_thread["messages"][2], "id": live.data["id"]}
    older = older.model_copy(
        update={
            "id": uuid.uuid4(),
            "payload": {**older.payload, "thread": {**older_thread, "messages": [
                {**older_thread["messages"][0], "id": "wamid.older.0"}, also_live]}},
        }
    )  # fmt: skip
    await publish(platform_bus, [first, second, first, older])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 4)
    rows = await admin_pool.fetch(
        "SELECT m.seq, m.direction, m.sender_kind, m.status, m.type, m.body_enc, m.created_at,"
        " m.wamid, c.id AS conversation_id, c.status AS conversation_status, c.controller,"
        " c.unread_count, c.last_customer_message_at, c.last_message_seq"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.tenant_id = $1 ORDER BY c.created_at, m.seq",
        tenant.id,
    )
    thread_a = [r for r in rows if r["conversation_id"] == before["id"]]
    thread_b = [r for r in rows if r["conversation_id"] != before["id"]]
    assert [(r["direction"], r["sender_kind"], r["status"], r["type"]) for r in thread_a] == [
        ("outbound", "business_app", "read", "text"),  # 40 days ago
        ("outbound", "business_app", "read", "text"),  # 10 days ago
        ("outbound", "business_app", "read", "media_placeholder"),  # PLAYED
        ("inbound", "customer", "received", "text"),
        ("inbound", "customer", "received", "text"),  # the live message
    ]
    assert [r["seq"] < 0 for r in thread_a] == [True, True, True, True, False]
    assert all(r["seq"] >= -(2**53 - 1) for r in rows)  # exact in a JavaScript number
    assert [r["created_at"] for r in thread_a[:4]] == sorted(r["created_at"] for r in thread_a[:4])
    # The live conversation is as it was: window, unread, latest message, owner, status.
    after = thread_a[-1]
    assert (after["conversation_status"], after["controller"], after["unread_count"]) == (
        before["status"], before["controller"], before["unread_count"]
    )  # fmt: skip
    assert after["last_customer_message_at"] == before["last_customer_message_at"]
    assert after["last_message_seq"] == before["last_message_seq"] == after["seq"]
    # A customer known only from history: a resolved conversation of their own, no window.
    [only] = thread_b
    assert (only["conversation_status"], only["controller"], only["unread_count"]) == (
        "resolved", "human", 0
    )  # fmt: skip
    assert (only["status"], only["last_customer_message_at"]) == ("delivered", None)
    assert only["last_message_seq"] == only["seq"] < 0
    raw = bytes(thread_a[1]["body_enc"])
    sent = first.payload["thread"]["messages"][0]
    assert sent["text"]["body"].encode() not in raw
    assert b"971501234567" not in raw
    clear = json.loads(cipher.decrypt(raw, tenant_id=tenant.id, field="messages.body"))
    assert clear == {"type": "text", "text": sent["text"]}
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 2
    # Nothing told the bots, analytics or outbound webhooks about old messages.
    assert len(await stored_events(platform_bus, tenant.id, 1)) == 1  # the live message's
    announced = await _events_of(
        platform_bus, "broadcast.analytics", tenant.id, {"inbox.message.added"}
    )
    assert announced == []

    # The API reads it in order, paging back across the live/history boundary.
    signer = TokenSigner.from_settings(settings)
    token, _ = signer.issue(user_id=uuid.uuid4(), tenant_id=tenant.id, role="agent")
    auth = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/conversations/{before['id']}/messages"
    seen = [item["seq"] for item in await _all_pages(inbox, path, auth, limit=2)]
    assert seen == [r["seq"] for r in reversed(thread_a)]
    assert (await inbox.get(path + "?before=-", headers=auth)).status == 422
    assert (await inbox.get(path + "?after=-1", headers=auth)).status == 422

    # The placeholder's content comes in a webhook of its own: the message becomes the image
    # (a file the simulator holds), and the file is fetched and stored encrypted.
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", "image/png")
    form.add_field("file", PNG, content_type="image/png", filename="menu.png")
    async with inbox.session.post(
        f"{sim}/v21.0/{tenant.pnid}/media",
        data=form,
        headers={"Authorization": f"Bearer {tenant.token}"},
    ) as response:
        assert response.status == 200, await response.text()
        meta_media_id = (await response.json())["id"]
    placeholder = first.payload["thread"]["messages"][1]
    content = {
        **placeholder,
        "type": "image",
        "image": {"caption": "القائمة", "mime_type": "image/png", "id": meta_media_id},
    }
    content.pop("history_context")
    media_event = first.model_copy(update={
        "id": uuid.uuid4(),
        "payload": {**first.payload, "chunk": {},
                    "thread": {"id": "971501234567", "messages": [content]}},
    })  # fmt: skip
    await publish(platform_bus, [media_event])
    await eventually(
        db_pool, tenant.id, "SELECT count(*) FROM media WHERE status = 'stored'", 1, within=15
    )
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        row = await conn.fetchrow(
            "SELECT type, body_enc, seq, status FROM messages WHERE wamid = $1", placeholder["id"]
        )
    assert row is not None
    assert (row["type"], row["seq"], row["status"]) == ("image", thread_a[2]["seq"], "read")
    body = json.loads(cipher.decrypt(bytes(row["body_enc"]), tenant_id=tenant.id,
                                     field="messages.body"))  # fmt: skip
    assert body["image"]["caption"] == "القائمة"
    # A download that did not finish (a retryable Graph error) is what a redelivery of the
    # event is for: the claim is taken, yet the file is fetched again.
    async with tenant_transaction(db_pool, tenant.id) as conn:
        await conn.execute("UPDATE media SET status = 'pending', content_enc = NULL")
    await publish(platform_bus, [media_event])
    await eventually(
        db_pool, tenant.id, "SELECT count(*) FROM media WHERE status = 'stored'", 1, within=15
    )

    # The same messages again under another event and another customer's thread (another
    # identity of the same person): all known, so no contact or conversation is made for it.
    again = first.model_copy(update={
        "id": uuid.uuid4(),
        "payload": {**first.payload, "thread": {**first.payload["thread"], "id": "971500000123"}},
    })  # fmt: skip
    await publish(platform_bus, [again])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 6)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 2
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 2


def _address_book_add(tenant: Tenant, at: datetime) -> Envelope:
    """The address-book fixture's contact, saved on the phone at `at`, as a new event."""
    [item] = tenant.items("contact_sync__add")
    stamp = {"timestamp": str(int(at.timestamp()))}
    changed = dataclasses.replace(item, data={**item.data, "metadata": stamp})
    return envelope_for(changed, tenant.id, datetime.now(UTC)).model_copy(
        update={"id": uuid.uuid4()}
    )


async def test_an_erased_customer_is_not_brought_back_by_the_business_apps_backfills(
    inbox: Client,
    sim: str,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    settings: Settings,
) -> None:
    """PDPL erasure vs coexistence: the owner's phone still holds an erased customer. The app's
    chat history (delivered again, or a later chunk) and its address book as it was up to the
    erasure do not bring them back; the number saved again on the phone afterwards, or a new
    message of theirs, does, as a new contact with nothing of the past. Another business with
    the same customer is not touched."""
    tenant, other = await make_tenant(), await make_tenant()
    for each in (tenant, other):
        await register(inbox, sim, each)
    history = _history(tenant)
    await publish(platform_bus, [*history, _history(other)[0]])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 2)
    await eventually(db_pool, other.id, "SELECT count(*) FROM processed_messages", 1)
    indexer = BlindIndexer.from_settings(settings)
    customer = "+971501234567"  # the first thread's, and the address book's
    bidx = indexer.phone(customer, tenant_id=tenant.id)
    count = (
        "SELECT row((SELECT count(*) FROM contacts WHERE phone_bidx = $1), (SELECT count(*)"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " JOIN contacts ct ON ct.id = c.contact_id WHERE ct.phone_bidx = $1))::text"
    )
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        contact_id = await conn.fetchval("SELECT id FROM contacts WHERE phone_bidx = $1", bidx)
        assert await conn.fetchval(count, bidx) == "(1,3)"
        everyone_else = await conn.fetchval("SELECT count(*) FROM messages")
    signer = TokenSigner.from_settings(settings)
    token, _ = signer.issue(user_id=uuid.uuid4(), tenant_id=tenant.id, role="owner")
    response = await inbox.post(
        f"/api/v1/contacts/{contact_id}/erase",
        json={"confirm": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, await response.text()
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM erased_identities") == 1
        assert await conn.fetchval(count, bidx) == "(0,0)"
        # What is remembered is a marker of the number, not its blind index.
        marked = "SELECT count(*) FROM erased_identities WHERE phone_marker = $1"
        assert await conn.fetchval(marked, bidx) == 0
    async with tenant_transaction(db_pool, other.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM erased_identities") == 0

    # The history again (a redelivery under new event ids) and the address book as it was.
    again = [e.model_copy(update={"id": uuid.uuid4()}) for e in history]
    before_erasure = datetime.now(UTC) - timedelta(days=3)
    await publish(platform_bus, [*again, _address_book_add(tenant, before_erasure)])
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 5)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval(count, bidx) == "(0,0)"
        # The other customer's thread, also delivered again, is as it was.
        assert await conn.fetchval("SELECT count(*) FROM messages") == everyone_else - 3

    # Saved again on the phone after the erasure: a new contact, with nothing of the past.
    await publish(
        platform_bus, [_address_book_add(tenant, datetime.now(UTC) + timedelta(seconds=5))]
    )
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM contacts WHERE phone_bidx = $1",
                     1, bidx)  # fmt: skip
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        assert await conn.fetchval(count, bidx) == "(1,0)"
    # And what the customer writes now is stored as any new message.
    await publish(platform_bus, tenant.envelopes("message__text"))
    await eventually(db_pool, tenant.id, count, "(1,1)", bidx)
    # The other business's history of the same customer is untouched.
    async with tenant_transaction(db_pool, other.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 3


def _same_tie_wamids() -> tuple[str, str]:
    """Two wamids whose history seqs tie when sent in the same second at the same place of
    their threads (the tie's low byte is a crc of the wamid)."""
    first = "wamid.tie.0"
    wanted = zlib.crc32(first.encode()) & 0xFF
    second = next(
        w for n in range(1, 10_000)
        if zlib.crc32((w := f"wamid.tie.{n}").encode()) & 0xFF == wanted
    )  # fmt: skip
    return first, second


async def test_history_messages_of_the_same_moment_all_read_across_pages(
    inbox: Client,
    sim: str,
    platform_bus: Bus,
    make_tenant: Callable[[], Awaitable[Tenant]],
    db_pool: Any,
    settings: Settings,
) -> None:
    """Two history messages sent in the same second, each first of its chunk's thread, would
    take the same seq: the second takes the next free one, so paging one at a time reads both
    (a shared seq would let a page boundary skip one)."""
    tenant = await make_tenant()
    await register(inbox, sim, tenant)
    first = _history(tenant)[0]
    thread = first.payload["thread"]
    message = thread["messages"][0]
    events = []
    for n, wamid in enumerate(_same_tie_wamids()):
        messages = [{**message, "id": wamid, "text": {"body": f"part {n}"}}]
        payload = {**first.payload, "thread": {**thread, "messages": messages}}
        events.append(first.model_copy(update={"id": uuid.uuid4(), "payload": payload}))
    await publish(platform_bus, events)
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM processed_messages", 2)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        rows = await conn.fetch("SELECT conversation_id, seq, wamid FROM messages ORDER BY seq")
    assert len(rows) == 2
    assert rows[0]["conversation_id"] == rows[1]["conversation_id"]
    assert rows[1]["seq"] == rows[0]["seq"] + 1
    signer = TokenSigner.from_settings(settings)
    token, _ = signer.issue(user_id=uuid.uuid4(), tenant_id=tenant.id, role="agent")
    path = f"/api/v1/conversations/{rows[0]['conversation_id']}/messages"
    auth = {"Authorization": f"Bearer {token}"}
    seen = [item["wamid"] for item in await _all_pages(inbox, path, auth, limit=1)]
    assert sorted(seen) == sorted(r["wamid"] for r in rows)


async def test_history_through_the_simulator_and_the_ingest(
    inbox: Client, sim: str, make_tenant: Callable[[], Awaitable[Tenant]], db_pool: Any
) -> None:
    """Meta's history webhook as the simulator signs it reaches the inbox through the ingest:
    a thread with the business's and the customer's messages in time order; a business that
    declined to share its history brings nothing."""
    tenant = await make_tenant()
    await register(inbox, sim, tenant)
    thread = {"with": "+971507770009", "messages": [
        {"by": "customer", "text": "هل الطاولة متاحة الليلة؟", "ago_s": 7200},
        {"by": "business", "text": "Yes, for four at 9", "ago_s": 7000, "status": "READ"},
    ]}  # fmt: skip
    for body in ({"declined": True}, {"threads": [thread], "phase": 0, "progress": 100}):
        async with inbox.session.post(
            f"{sim}/_sim/history", json={"phone_number_id": tenant.pnid, **body}
        ) as response:
            assert response.status == 201
    await eventually(db_pool, tenant.id, "SELECT count(*) FROM messages", 2, within=15)
    async with tenant_transaction(db_pool, tenant.id, readonly=True) as conn:
        rows = await conn.fetch("SELECT seq, direction, status FROM messages ORDER BY seq")
        assert await conn.fetchval("SELECT status FROM conversations") == "resolved"
    assert [(r["direction"], r["status"]) for r in rows] == [
        ("inbound", "received"), ("outbound", "read")
    ]  # fmt: skip
    assert all(r["seq"] < 0 for r in rows)


async def test_a_number_shared_with_the_business_app_is_paced_at_20_per_second(
    make_tenant: Callable[[], Awaitable[Tenant]], db_pool: Any
) -> None:
    """The rate the dispatcher and campaigns pace a number at (`send_rate`): the configured one
    (80 by default), at most 20 once the number is known to be shared with the app."""
    tenant = await make_tenant()
    expected = {
        (None, False): 80, (1000, False): 1000, (10, False): 10,
        (None, True): 20, (1000, True): 20, (10, True): 10,
    }  # fmt: skip
    async with tenant_transaction(db_pool, tenant.id, "owner") as conn:
        for (configured, shared), rate in expected.items():
            await conn.execute(
                "UPDATE whatsapp_numbers SET send_rate_per_second = $2,"
                " coexistence_since = CASE WHEN $3 THEN now() END WHERE id = $1",
                tenant.number_id, configured, shared,
            )  # fmt: skip
            found = await conn.fetchval(
                "SELECT send_rate FROM whatsapp_numbers WHERE id = $1", tenant.number_id
            )
            assert found == rate, (configured, shared)
