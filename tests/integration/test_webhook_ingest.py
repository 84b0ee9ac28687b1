"""webhook-ingest in-process against the real PostgreSQL and RabbitMQ: what Meta's POSTs publish.

Publishes are observed on a queue of the test's own, bound to `webhook_ingest.#` under the run's
prefix (the platform's queues each take only the kinds their service handles).
Each test gets fresh numbers (random Meta ids), so the routing lookup never sees another's.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import hypothesis
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import strategies as st
from pydantic import SecretStr

from majlis.crypto import FieldCipher, KeyRing
from majlis.db import tenant_transaction
from majlis.events import Envelope, parse_envelope
from majlis.http.resources import BUS
from majlis.messaging import PLATFORM_QUEUES, Bus, delete_topology, exchange_name, queue_name
from majlis.settings import Settings
from majlis.testing.fuzzing import count, http_sample_size, webhook_bodies
from webhook_ingest.app import create_app
from webhook_ingest.parsing import WebhookShapeError, parse_webhook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
FIXTURE_NUMBER, FIXTURE_WABA = "220000000000002", "310000000000001"
FIXTURE_SECOND_NUMBER, FIXTURE_SECOND_WABA = "220000000000009", "310000000000008"
TENANT_APP_ID, TENANT_APP_SECRET = "987654321012345", "tenant-own-app-secret-abcdef"
URL = "/webhooks/whatsapp"

Client = TestClient[web.Request, web.Application]


def meta_id() -> str:
    """A fresh 15-digit Meta id, unique enough that no other test's number shares it."""
    return str(10**14 + secrets.randbelow(9 * 10**14))


def sign(body: bytes, secret: str) -> str:
    """What Meta puts in X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def fixture_body(name: str, ids: dict[str, str]) -> bytes:
    """A fixture's bytes with the placeholder Meta ids swapped for this test's."""
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    for placeholder, value in ids.items():
        text = text.replace(placeholder, value)
    return text.encode()


async def add_number(
    db_pool: Any, settings: Settings, tenant: uuid.UUID, pnid: str, waba: str
) -> None:
    """A whatsapp_numbers row, written as the tenant's owner."""
    cipher = FieldCipher(KeyRing.from_settings(settings))
    number_id = uuid.uuid4()
    token = cipher.encrypt("EAAtesttoken", tenant_id=tenant, field="whatsapp_numbers.access_token")
    async with tenant_transaction(db_pool, tenant, "owner") as conn:
        await conn.execute(
            "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"
            " display_number, access_token_enc) VALUES ($1, $2, $3, $4, '+97143000000', $5)",
            tenant, number_id, pnid, waba, token,
        )  # fmt: skip


OBSERVED = "test.ingest_observed"


class Observed:
    """Reads every webhook_ingest event published under the run's prefix."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.name = queue_name(bus.prefix, OBSERVED)

    async def attach(self) -> None:
        """Declare the observing queue and bind it (again, after the exchange was re-made)."""
        channel = await self.bus.channel(publisher_confirms=False)
        queue = await channel.declare_queue(
            self.name, durable=False, arguments={"x-queue-type": "classic"}
        )
        await queue.bind(exchange_name(self.bus.prefix), routing_key="webhook_ingest.#")
        await channel.close()

    async def take(self, count: int, *, within: float = 5.0, settle: float = 0.3) -> list[Envelope]:
        """Exactly `count` envelopes (fails on fewer in time, or on any extra within `settle`)."""
        channel = await self.bus.channel(publisher_confirms=False)
        got: list[Envelope] = []
        try:
            queue = await channel.declare_queue(self.name, passive=True)
            async with asyncio.timeout(within):
                while len(got) < count:
                    message = await queue.get(no_ack=True, fail=False)
                    if message is None:
                        await asyncio.sleep(0.02)
                        continue
                    got.append(parse_envelope(message.body))
            await asyncio.sleep(settle)
            extra = await queue.get(no_ack=True, fail=False)
            assert extra is None, "more was published than expected"
        finally:
            await channel.close()
        return got


@pytest.fixture
async def platform_bus(bus: Bus) -> AsyncIterator[Observed]:
    """The platform topology under the run's prefix, emptied first and deleted afterwards."""
    await bus.declare_topology(PLATFORM_QUEUES)
    observed = Observed(bus)
    await observed.attach()
    channel = await bus.channel(publisher_confirms=False)
    await (await channel.declare_queue(observed.name, passive=True)).purge()
    await channel.close()
    yield observed
    channel = await bus.channel(publisher_confirms=False)
    await channel.queue_delete(queue_name(bus.prefix, OBSERVED))
    await delete_topology(channel, bus.prefix, PLATFORM_QUEUES, bus.retry_delays_ms)
    await channel.close()


@pytest.fixture
def ingest_settings(settings: Settings) -> Settings:
    """Test settings plus one tenant-owned Meta app."""
    return settings.model_copy(
        update={"meta_app_secrets": SecretStr(f"{TENANT_APP_ID}:{TENANT_APP_SECRET}")}
    )


@pytest.fixture
async def client(ingest_settings: Settings, platform_bus: Observed) -> AsyncIterator[Client]:
    """The ingest app, started in-process (its own pool and bus)."""
    async with TestClient(TestServer(create_app(ingest_settings))) as test_client:
        yield test_client


@pytest.fixture
async def number(db_pool: Any, settings: Settings, tenant_factory: Any) -> dict[str, Any]:
    """A tenant with one active number; `ids` maps fixture placeholders to its Meta ids."""
    tenant = await tenant_factory()
    pnid, waba = meta_id(), meta_id()
    await add_number(db_pool, settings, tenant, pnid, waba)
    return {"tenant": tenant, "ids": {FIXTURE_NUMBER: pnid, FIXTURE_WABA: waba}}


Post = Callable[..., Awaitable[Any]]


@pytest.fixture
def post(client: Client, settings: Settings) -> Post:
    """POST bytes signed with the platform secret (or as told)."""

    async def send(body: bytes, *, signature: str | None = "sign", path: str = URL) -> Any:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            signature = sign(body, settings.meta_app_secret.get_secret_value())
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        # A stream, so that a large body does not block the loop while it is sent.
        return await client.post(path, data=io.BytesIO(body), headers=headers)

    return send


async def metric(client: Client, line_start: str) -> float:
    """The value of one sample of the app's /metrics (0 if absent)."""
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_handshake_echoes_the_challenge(client: Client, settings: Settings) -> None:
    token = settings.meta_verify_token.get_secret_value()
    query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    response = await client.get(URL, params=query)
    assert response.status == 200
    assert await response.text() == "1158201444"
    assert response.content_type == "text/plain"
    own_app = await client.get(f"{URL}/{TENANT_APP_ID}", params=query)
    assert own_app.status == 200


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
async def test_handshake_with_a_bad_token_or_mode_is_403(
    client: Client, query: dict[str, str]
) -> None:
    response = await client.get(URL, params=query)
    assert response.status == 403
    assert "1" not in await response.text()
    unknown_app = await client.get(f"{URL}/111", params={**query, "hub.verify_token": "x"})
    assert unknown_app.status == 403


def _reserialised(body: bytes) -> bytes:
    return json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()


def _one_byte_changed(body: bytes) -> bytes:
    at = body.index(b'"timestamp": "') + len(b'"timestamp": "')
    return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]


@pytest.mark.parametrize(
    ("tamper", "signature", "reason"),
    [
        pytest.param(None, None, "signature_missing", id="missing"),
        pytest.param(None, "sha256=zz", "signature_malformed", id="malformed"),
        pytest.param(None, "md5=" + "0" * 64, "signature_malformed", id="wrong-scheme"),
        pytest.param(None, "other-body", "signature_mismatch", id="other-body"),
        pytest.param(None, "wrong-secret", "signature_mismatch", id="wrong-secret"),
        pytest.param(_one_byte_changed, "original", "signature_mismatch", id="one-byte-changed"),
        pytest.param(_reserialised, "original", "signature_mismatch", id="re-serialised"),
    ],
)
async def test_bad_signatures_are_403_and_publish_nothing(
    client: Client,
    post: Post,
    platform_bus: Observed,
    number: dict[str, Any],
    settings: Settings,
    tamper: Callable[[bytes], bytes] | None,
    signature: str | None,
    reason: str,
) -> None:
    body = fixture_body("message__text", number["ids"])
    if signature == "original":
        signature = sign(body, settings.meta_app_secret.get_secret_value())
    elif signature == "wrong-secret":
        signature = sign(body, "not-the-app-secret")
    elif signature == "other-body":
        signature = sign(b"{}", settings.meta_app_secret.get_secret_value())
    sent = tamper(body) if tamper else body
    assert (sent != body) is (tamper is not None)
    response = await post(sent, signature=signature)
    assert response.status == 403
    assert (await response.json())["type"].endswith("/invalid-signature")
    await platform_bus.take(0)
    assert await metric(client, f'majlis_webhook_rejected_total{{reason="{reason}"}}') == 1.0


async def test_valid_message_is_published_once_confirmed(
    post: Post, platform_bus: Observed, number: dict[str, Any]
) -> None:
    body = fixture_body("message__text", number["ids"])
    response = await post(body)
    assert response.status == 200
    [envelope] = await platform_bus.take(1)
    assert envelope.type == "webhook_ingest.message.received"
    assert envelope.tenant_id == number["tenant"]
    sent = json.loads(body)["entry"][0]["changes"][0]["value"]
    assert envelope.payload["message"] == sent["messages"][0]
    assert envelope.payload["contact"] == sent["contacts"][0]
    assert envelope.payload["phone_number_id"] == number["ids"][FIXTURE_NUMBER]
    assert envelope.payload["waba_id"] == number["ids"][FIXTURE_WABA]
    # Meta redelivers: the same item yields the same event id, for consumers to dedupe.
    assert (await post(body)).status == 200
    [again] = await platform_bus.take(1)
    assert again.id == envelope.id


async def test_tenant_app_route_uses_that_apps_secret_only(
    post: Post, platform_bus: Observed, number: dict[str, Any], settings: Settings
) -> None:
    body = fixture_body("message__text", number["ids"])
    own = f"{URL}/{TENANT_APP_ID}"
    assert (await post(body, path=own)).status == 403  # platform secret on the tenant app's URL
    assert (await post(body, signature=sign(body, TENANT_APP_SECRET))).status == 403
    assert (await post(body, signature=sign(body, TENANT_APP_SECRET), path=own)).status == 200
    for unknown_app in ("42", "not-an-id"):
        unknown = await post(
            body, signature=sign(body, TENANT_APP_SECRET), path=f"{URL}/{unknown_app}"
        )
        assert unknown.status == 403
    [envelope] = await platform_bus.take(1)
    assert envelope.tenant_id == number["tenant"]


async def test_oversized_body_is_413(client: Client, post: Post, platform_bus: Observed) -> None:
    body = (
        b'{"object": "whatsapp_business_account", "entry": [], "pad": "'
        + b"x" * (3 * 1024 * 1024)
        + b'"}'
    )
    response = await post(body)
    assert response.status == 413
    assert (await response.json())["status"] == 413
    await platform_bus.take(0)
    assert await metric(client, 'majlis_webhook_rejected_total{reason="too_large"}') == 1.0


async def test_unknown_number_is_200_and_publishes_nothing(
    client: Client, post: Post, platform_bus: Observed
) -> None:
    body = fixture_body("message__text", {FIXTURE_NUMBER: meta_id(), FIXTURE_WABA: meta_id()})
    assert (await post(body)).status == 200
    await platform_bus.take(0)
    unrouted = 'majlis_webhook_items_total{kind="message",outcome="unrouted"}'
    assert await metric(client, unrouted) == 1.0


async def test_batch_publishes_every_item_to_its_own_tenant(
    db_pool: Any,
    settings: Settings,
    tenant_factory: Any,
    post: Post,
    platform_bus: Observed,
    number: dict[str, Any],
) -> None:
    other = await tenant_factory()
    second_pnid, second_waba = meta_id(), meta_id()
    await add_number(db_pool, settings, other, second_pnid, second_waba)
    ids = {**number["ids"], FIXTURE_SECOND_NUMBER: second_pnid, FIXTURE_SECOND_WABA: second_waba}
    assert (await post(fixture_body("batch__multi_entry", ids))).status == 200
    envelopes = await platform_bus.take(9)
    by_tenant: dict[uuid.UUID, list[str]] = {}
    for envelope in envelopes:
        by_tenant.setdefault(envelope.tenant_id, []).append(envelope.type)
    assert sorted(by_tenant[number["tenant"]]) == sorted(
        ["webhook_ingest.message.received"] * 4 + ["webhook_ingest.status.received"] * 4
    )
    assert by_tenant[other] == ["webhook_ingest.message.received"]
    assert len({e.id for e in envelopes}) == 9


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("template_status__rejected", "webhook_ingest.template_status.received"),
        ("phone_quality__throughput_upgrade", "webhook_ingest.phone_quality.received"),
        ("account__restriction", "webhook_ingest.account.received"),
        ("status__failed", "webhook_ingest.status.received"),
    ],
)
async def test_other_kinds_are_published_typed(
    post: Post, platform_bus: Observed, number: dict[str, Any], name: str, event_type: str
) -> None:
    assert (await post(fixture_body(name, number["ids"]))).status == 200
    [envelope] = await platform_bus.take(1)
    assert envelope.type == event_type
    assert envelope.tenant_id == number["tenant"]


async def test_unknown_kinds_are_counted_and_bad_bodies_are_400(
    client: Client, post: Post, platform_bus: Observed, number: dict[str, Any]
) -> None:
    assert (await post(fixture_body("unknown__user_preferences", number["ids"]))).status == 200
    unknown = 'majlis_webhook_items_total{kind="user_preferences",outcome="unknown_kind"}'
    assert await metric(client, unknown) == 1.0
    for body in (b"not json", b'{"object": "whatsapp_business_account"}', b"[]"):
        response = await post(body)
        assert response.status == 400
        assert response.content_type == "application/problem+json"
    await platform_bus.take(0)


async def test_broker_closed_is_503_and_nothing_is_published(
    client: Client, post: Post, platform_bus: Observed, number: dict[str, Any]
) -> None:
    app = client.app
    assert app is not None
    await app[BUS].close()
    response = await post(fixture_body("message__text", number["ids"]))
    assert response.status == 503
    assert response.headers["Retry-After"]
    await platform_bus.take(0)


async def test_broker_refusing_is_503_and_the_retry_publishes(
    post: Post, platform_bus: Observed, number: dict[str, Any]
) -> None:
    bus = platform_bus.bus
    channel = await bus.channel(publisher_confirms=False)
    await channel.exchange_delete(exchange_name(bus.prefix))  # every publish is now refused
    await channel.close()
    body = fixture_body("batch__multi_entry", number["ids"])
    assert (await post(body)).status == 503
    await bus.declare_topology(PLATFORM_QUEUES)  # the broker is back
    await platform_bus.attach()
    # Meta retries with backoff; the refused channel may have cost the connection, which
    # reconnects by itself within seconds.
    for _ in range(40):
        if (await post(body)).status == 200:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("the retried POST never succeeded")
    envelopes = await platform_bus.take(8)
    assert len({e.id for e in envelopes}) == 8


def _generated(strategy: st.SearchStrategy[Any], size: int) -> list[Any]:
    """`size` inputs drawn by hypothesis under the active profile (derandomized in CI)."""
    drawn: list[Any] = []

    @hypothesis.settings(max_examples=size)
    @hypothesis.given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn[:size]


_SIGNATURES = st.sampled_from(["valid", "valid", "wrong-secret", "missing", "malformed", "bytes"])


def _predicted_events(body: bytes, pnid: str, waba: str) -> int:
    """How many events the pure parser says this body yields for the test's number."""
    try:
        parsed = parse_webhook(orjson.loads(body))
    except (orjson.JSONDecodeError, WebhookShapeError):
        return 0
    return sum(
        (item.phone_number_id == pnid) if item.routes_by_number else (item.waba_id == waba)
        for item in parsed.items
    )


async def test_fuzz_generated_webhooks_answer_200_or_4xx_and_bad_signatures_publish_nothing(
    client: Client, post: Post, platform_bus: Observed, number: dict[str, Any]
) -> None:
    """The HTTP sample on top of tests/unit/test_fuzz_webhooks.py: the whole handler, real bus."""
    ids = number["ids"]
    documents = [orjson.loads(fixture_body(path.stem, ids)) for path in FIXTURES.glob("*.json")]
    samples = _generated(
        st.tuples(webhook_bodies(documents), _SIGNATURES, st.binary(max_size=8)), http_sample_size()
    )
    count("ingest HTTP handler", len(samples))
    signed = [(body, kind) for body, kind, _ in samples if kind == "valid"]
    for body, kind, noise in samples:
        if kind == "valid":
            continue
        header = {
            "wrong-secret": sign(body, "not-the-app-secret"),
            "missing": None,
            "malformed": "sha256=" + noise.hex(),
            "bytes": "sha256=" + hashlib.sha256(body).hexdigest(),
        }[kind]
        response = await post(body, signature=header)
        assert response.status == 403, (kind, await response.text())
        assert response.content_type == "application/problem+json"
    await platform_bus.take(0)  # not one event from an invalid signature
    expected = 0
    for body, _ in signed:
        response = await post(body)
        assert response.status in (200, 400), await response.text()
        if response.status == 400:
            assert response.content_type == "application/problem+json"
        else:
            expected += _predicted_events(body, ids[FIXTURE_NUMBER], ids[FIXTURE_WABA])
    await platform_bus.take(expected, within=15.0)
