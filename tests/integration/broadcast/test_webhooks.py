"""Outbound webhooks through the HTTP API, the bus and a real receiver on 127.0.0.1.

The receiver checks every delivery with a verifier written here from the Standard Webhooks
specification (it never imports our signer): HMAC-SHA256 over "{id}.{timestamp}.{body}" with
the base64-decoded secret, `v1,` signatures space-separated, timestamps older than 5 minutes
refused as replays.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.inbox import ConversationUpdated, EchoStored, MessageStored
from majlis.plans import set_plan

# The world's classes live in this folder's conftest.py (not importable under mypy's paths).
World = Any
Team = Any
TOLERANCE_S = 300


class InvalidWebhook(Exception):
    """The verifier refused a delivery."""


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> Any:
    """Standard Webhooks verification, from the specification (independent of our signer)."""
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise InvalidWebhook("timestamp outside the tolerance (replay)")
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(body)
    raise InvalidWebhook("no valid signature")


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers each path from its script (then 200)."""

    base: str = ""
    hits: list[Hit] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def of(self, name: str) -> list[Hit]:
        return [h for h in self.hits if h.path == f"/{name}"]

    async def wait(self, name: str, count: int = 1, within: float = 15.0) -> list[Hit]:
        async with asyncio.timeout(within):
            while len(self.of(name)) < count:  # noqa: ASYNC110  # filled by the server
                await asyncio.sleep(0.02)
        return self.of(name)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def handle(request: web.Request) -> web.Response:
        found.hits.append(Hit(request.path, dict(request.headers), await request.read()))
        script = found.scripts.get(request.path.lstrip("/"), [])
        status, headers = script.pop(0) if script else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    found.base = str(server.make_url("")).rstrip("/")
    yield found
    await server.close()


async def create(
    world: World, team: Team, url: str, types: list[str] | None = None
) -> dict[str, Any]:
    body = {"url": url, "description": "CRM", "event_types": types or ["message.received"]}
    status, created = await world.request(team, "owner", "POST", "/api/v1/webhooks", body)
    assert status == 201, created
    return created  # type: ignore[no-any-return]


async def deliveries(world: World, team: Team, endpoint_id: str) -> list[dict[str, Any]]:
    status, page = await world.request(
        team, "admin", "GET", f"/api/v1/webhooks/{endpoint_id}/deliveries"
    )
    assert status == 200, page
    return page["items"]  # type: ignore[no-any-return]


async def settled(world: World, team: Team, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            log = await deliveries(world, team, endpoint_id)
            [row] = [d for d in log if d["id"] == delivery_id]
            if row["state"] != "pending":
                return row
            await asyncio.sleep(0.05)


async def send_test(world: World, team: Team, endpoint_id: str) -> str:
    status, body = await world.request(
        team, "owner", "POST", f"/api/v1/webhooks/{endpoint_id}/test"
    )
    assert status == 202, body
    return body["delivery_id"]  # type: ignore[no-any-return]


async def test_secret_shown_once_and_every_delivery_verifies(
    webhook_world: World, receiver: Receiver
) -> None:
    world = webhook_world
    team = await world.team()
    created = await create(world, team, receiver.url("crm"))
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) >= 24
    status, shown = await world.request(team, "viewer", "GET", "/api/v1/webhooks")
    assert status == 403
    status, shown = await world.request(team, "admin", "GET", f"/api/v1/webhooks/{created['id']}")
    assert status == 200
    assert "secret" not in shown
    assert shown["enabled"] is True
    status, listed = await world.request(team, "admin", "GET", "/api/v1/webhooks")
    assert [e["id"] for e in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert listed["next_cursor"] is None

    delivery_id = await send_test(world, team, created["id"])
    [hit] = await receiver.wait("crm")
    payload = verify(secret, hit.headers, hit.body)
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint_id"] == created["id"]
    assert payload["timestamp"].endswith("Z")
    assert hit.headers["webhook-id"] == f"msg_{uuid.UUID(delivery_id).hex}"
    assert hit.headers["Content-Type"] == "application/json"
    assert "Majlis" in hit.headers["User-Agent"]
    # A replay (the same message more than 5 minutes later) and a tampered body are refused.
    with pytest.raises(InvalidWebhook):
        verify(secret, hit.headers, hit.body, now=int(hit.headers["webhook-timestamp"]) + 301)
    with pytest.raises(InvalidWebhook):
        verify(secret, hit.headers, hit.body.replace(b"test", b"tost"))
    row = await settled(world, team, created["id"], delivery_id)
    assert row["state"] == "succeeded"
    assert row["status_code"] == 200
    assert row["attempt"] == 1
    assert row["event_type"] == "webhook.test"
    assert row["latency_ms"] >= 0
    assert row["error_class"] is None
    assert row["last_attempt_at"]
    # The secret is stored encrypted, never in clear.
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        stored = await conn.fetchval(
            "SELECT secret_enc FROM webhook_endpoints WHERE id = $1", uuid.UUID(created["id"])
        )
    assert secret.encode() not in bytes(stored)


async def store_message(
    world: World, team: Team, stored: MessageStored, content: dict[str, Any]
) -> None:
    """A contact, conversation and inbound message as the inbox stores them (encrypted)."""
    sealed = world.cipher.encrypt(
        json.dumps(content), tenant_id=team.tenant_id, field="messages.body"
    )
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, id, phone_bidx) VALUES ($1, $2, $3)",
            team.tenant_id, stored.contact_id, uuid.uuid4().bytes,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO conversations (tenant_id, id, contact_id, number_id)"
            " VALUES ($1, $2, $3, $4)",
            team.tenant_id, stored.conversation_id, stored.contact_id, team.number_id,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO messages (tenant_id, id, conversation_id, direction, type, body_enc,"
            " status, wamid) VALUES ($1, $2, $3, 'inbound', 'text', $4, 'received', $5)",
            team.tenant_id, stored.message_id, stored.conversation_id, sealed, stored.wamid,
        )  # fmt: skip


async def test_platform_events_reach_subscribed_endpoints_once(
    webhook_world: World, receiver: Receiver
) -> None:
    world = webhook_world
    team = await world.team()
    messages = await create(world, team, receiver.url("messages"), ["message.received"])
    assigned = await create(world, team, receiver.url("assigned"), ["conversation.assigned"])
    stored = MessageStored(
        message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), contact_id=uuid.uuid4(),
        number_id=team.number_id, type="text", wamid="wamid.HBgL" + uuid.uuid4().hex,
    )  # fmt: skip
    content = {"type": "text", "text": {"body": "Do you deliver to Sharjah?"}}
    await store_message(world, team, stored, content)
    envelope = make_envelope(stored, tenant_id=team.tenant_id)
    await world.publisher.publish(envelope)
    await world.publisher.publish(envelope)  # a redelivery: still one webhook
    update = ConversationUpdated(
        conversation_id=stored.conversation_id, contact_id=stored.contact_id,
        number_id=team.number_id, change="assignment", status="open",
        assigned_user_id=uuid.uuid4(), actor_type="user", actor_id=uuid.uuid4(),
        team_id=uuid.uuid4(),
    )  # fmt: skip
    await world.publisher.publish(make_envelope(update, tenant_id=team.tenant_id))
    [hit] = await receiver.wait("messages")
    payload = verify(messages["secret"], hit.headers, hit.body)
    assert payload["type"] == "message.received"
    assert payload["data"]["message_id"] == str(stored.message_id)
    assert payload["data"]["conversation_id"] == str(stored.conversation_id)
    assert payload["data"]["wamid"] == stored.wamid
    assert payload["data"]["content"] == content  # bodies only in message.received/sent
    [other] = await receiver.wait("assigned")
    assigned_payload = verify(assigned["secret"], other.headers, other.body)
    assert assigned_payload["type"] == "conversation.assigned"
    assert assigned_payload["data"]["assigned_user_id"] == str(update.assigned_user_id)
    assert assigned_payload["data"]["team_id"] == str(update.team_id)
    assert assigned_payload["data"]["previous_team_id"] is None
    assert "content" not in assigned_payload["data"]
    # A status change that is not an assignment reaches no one; the duplicate made no row.
    status_only = update.model_copy(update={"change": "status", "status": "pending"})
    await world.publisher.publish(make_envelope(status_only, tenant_id=team.tenant_id))
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT endpoint_id, conversation_id FROM webhook_deliveries"
            " WHERE endpoint_id = ANY($1::uuid[])",
            [uuid.UUID(messages["id"]), uuid.UUID(assigned["id"])],
        )
    # The one that carries the message's content names its conversation (an erasure of the
    # contact deletes it); the other holds ids only.
    by_endpoint = {str(r["endpoint_id"]): r["conversation_id"] for r in rows}
    assert by_endpoint == {messages["id"]: stored.conversation_id, assigned["id"]: None}
    assert len(receiver.of("messages")) == 1
    assert len(receiver.of("assigned")) == 1


async def test_what_the_owner_sent_from_the_business_app_is_a_message_sent(
    webhook_world: World, receiver: Receiver
) -> None:
    """Coexistence: a CRM subscribed to `message.sent` gets the owner's answers from the
    WhatsApp Business app too (an echo never passes the dispatcher), marked by `source`, once
    however often the event comes."""
    world = webhook_world
    team = await world.team()
    sent = await create(world, team, receiver.url("sent"), ["message.sent"])
    await create(world, team, receiver.url("received"), ["message.received"])
    stored = MessageStored(
        message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), contact_id=uuid.uuid4(),
        number_id=team.number_id, type="text", wamid="wamid.HBgL" + uuid.uuid4().hex,
    )  # fmt: skip
    content = {"type": "text", "text": {"body": "Yes, we deliver to Sharjah tomorrow"}}
    await store_message(world, team, stored, content)  # the stored row's body is what is sent
    echo = EchoStored(**stored.model_dump())
    envelope = make_envelope(echo, tenant_id=team.tenant_id)
    await world.publisher.publish(envelope)
    await world.publisher.publish(envelope)
    [hit] = await receiver.wait("sent")
    payload = verify(sent["secret"], hit.headers, hit.body)
    assert payload["type"] == "message.sent"
    assert payload["data"] == {
        "message_id": str(stored.message_id), "wamid": stored.wamid, "source": "business_app",
        "content": content,
    }  # fmt: skip
    await asyncio.sleep(0.5)
    assert len(receiver.of("sent")) == 1
    assert receiver.of("received") == []  # not the customer writing
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        marked = await conn.fetchval(
            "SELECT conversation_id FROM webhook_deliveries WHERE endpoint_id = $1",
            uuid.UUID(sent["id"]),
        )
    assert marked == stored.conversation_id


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    webhook_world: World, receiver: Receiver
) -> None:
    world = webhook_world
    team = await world.team()
    created = await create(world, team, receiver.url("rotating"))
    old, path = created["secret"], f"/api/v1/webhooks/{created['id']}/rotate-secret"
    status, rotated = await world.request(team, "owner", "POST", path)
    assert status == 200, rotated
    new = rotated["secret"]
    assert new != old
    assert rotated["previous_secret_expires_at"]
    await send_test(world, team, created["id"])
    [hit] = await receiver.wait("rotating")
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    verify(old, hit.headers, hit.body)
    verify(new, hit.headers, hit.body)
    # A rotation without overlap: only the newest secret signs from now on.
    status, again = await world.request(team, "owner", "POST", path, {"overlap_seconds": 0})
    assert status == 200, again
    newest = again["secret"]
    await send_test(world, team, created["id"])
    hits = await receiver.wait("rotating", 2)
    verify(newest, hits[1].headers, hits[1].body)
    for stale in (old, new):
        with pytest.raises(InvalidWebhook):
            verify(stale, hits[1].headers, hits[1].body)
    status, refused = await world.request(
        team, "owner", "POST", path, {"overlap_seconds": 7 * 86_400 + 1}
    )
    assert status == 422, refused


async def test_retries_follow_the_outcome(webhook_world: World, receiver: Receiver) -> None:
    world = webhook_world
    team = await world.team()
    flaky = await create(world, team, receiver.url("flaky"))
    receiver.scripts["flaky"] = [(503, {}), (429, {"Retry-After": "1"}), (200, {})]
    delivery_id = await send_test(world, team, flaky["id"])
    row = await settled(world, team, flaky["id"], delivery_id)
    assert row["state"] == "succeeded"
    assert row["attempt"] == 3
    assert row["status_code"] == 200
    hits = receiver.of("flaky")
    assert len(hits) == 3
    assert len({h.headers["webhook-id"] for h in hits}) == 1  # stable across retries
    for hit in hits:
        verify(flaky["secret"], hit.headers, hit.body)

    refused = await create(world, team, receiver.url("refused"))
    receiver.scripts["refused"] = [(400, {}), (200, {})]
    delivery_id = await send_test(world, team, refused["id"])
    row = await settled(world, team, refused["id"], delivery_id)
    assert row["state"] == "failed"
    assert row["attempt"] == 1
    assert row["status_code"] == 400
    assert row["error_class"] == "http_400"
    # Manual redelivery: the same message (same webhook-id) is sent again and succeeds.
    status, again = await world.request(
        team, "owner", "POST",
        f"/api/v1/webhooks/{refused['id']}/deliveries/{delivery_id}/redeliver",
    )  # fmt: skip
    assert status == 202, again
    row = await settled(world, team, refused["id"], delivery_id)
    assert row["state"] == "succeeded"
    first, second = receiver.of("refused")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body


async def test_a_dead_end_is_retried_until_given_up(
    webhook_world: World, receiver: Receiver
) -> None:
    world = webhook_world
    team = await world.team()
    down = await create(world, team, receiver.url("down"))
    receiver.scripts["down"] = [(503, {})] * 30
    delivery_id = await send_test(world, team, down["id"])
    row = await settled(world, team, down["id"], delivery_id)
    # Every step of the schedule, then more until the (scaled) day has passed.
    assert row["state"] == "failed"
    assert row["attempt"] >= 8, row
    assert row["error_class"] == "http_503"
    assert len(receiver.of("down")) == row["attempt"]


async def test_a_failing_endpoint_is_disabled_and_the_tenant_told(
    webhook_world: World, receiver: Receiver
) -> None:
    world = webhook_world
    team = await world.team()
    broken = await create(world, team, receiver.url("broken"))
    receiver.scripts["broken"] = [(410, {})] * 5
    for _ in range(3):
        delivery_id = await send_test(world, team, broken["id"])
        await settled(world, team, broken["id"], delivery_id)
    status, shown = await world.request(team, "owner", "GET", f"/api/v1/webhooks/{broken['id']}")
    assert status == 200
    assert shown["enabled"] is False
    assert shown["disabled_reason"].startswith("failing")
    async with asyncio.timeout(10):
        while not (  # noqa: ASYNC110  # filled by a bus callback
            world.of("broadcast.webhook.disabled", "endpoint_id", broken["id"])
            and world.of("broadcast.audit.recorded", "target_id", broken["id"])
        ):
            await asyncio.sleep(0.05)
    audits = [
        a
        for a in world.of("broadcast.audit.recorded", "target_id", broken["id"])
        if a["action"] == "webhooks.endpoint.disabled"
    ]
    assert audits
    assert audits[0]["actor_type"] == "system"
    # A disabled endpoint refuses a test; enabling it again clears the reason.
    status, _ = await world.request(team, "owner", "POST", f"/api/v1/webhooks/{broken['id']}/test")
    assert status == 409
    status, enabled = await world.request(
        team, "owner", "PATCH", f"/api/v1/webhooks/{broken['id']}", {"enabled": True}
    )
    assert status == 200
    assert enabled["enabled"]
    assert enabled["disabled_reason"] is None


async def test_a_redirect_is_a_failure_never_followed(
    webhook_world: World, receiver: Receiver
) -> None:
    world = webhook_world
    team = await world.team()
    endpoint = await create(world, team, receiver.url("moved"))
    receiver.scripts["moved"] = [(302, {"Location": "http://10.0.0.1/"})]
    delivery_id = await send_test(world, team, endpoint["id"])
    row = await settled(world, team, endpoint["id"], delivery_id)
    assert row["state"] == "failed"
    assert row["status_code"] == 302
    assert len(receiver.of("moved")) == 1


async def test_bad_targets_are_refused_with_reasons(webhook_world: World) -> None:
    world = webhook_world
    team = await world.team()
    bad = [
        "http://10.1.2.3/hook",
        "http://172.16.5.4/hook",
        "http://172.31.255.254/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.7/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://167772161/hook",  # 10.0.0.1, decimal
        "http://012.0.0.1/hook",  # 10.0.0.1, octal
        "http://0xa.0.0.1/hook",  # 10.0.0.1, hex
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
        "not a url at all",
    ]
    for url in bad:
        body = {"url": url, "event_types": ["lead.captured"]}
        status, problem = await world.request(team, "owner", "POST", "/api/v1/webhooks", body)
        assert status == 422, (url, problem)
        if len(url) >= 8:
            assert problem["errors"][0]["field"] == "url", url
    status, problem = await world.request(
        team, "owner", "POST", "/api/v1/webhooks",
        {"url": "https://example.com/", "event_types": ["no.such.type"]},
    )  # fmt: skip
    assert status == 422
    status, problem = await world.request(
        team, "owner", "POST", "/api/v1/webhooks",
        {"url": "https://example.com/", "event_types": ["lead.captured"], "extra": 1},
    )  # fmt: skip
    assert status == 422
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_dns_rebinding_is_refused_on_connect(
    webhook_world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a public address when created, then to a private one."""
    from aiohttp.resolver import ThreadedResolver

    answers = {"rebind.test": ["93.184.216.34", "10.0.0.5"], "inside.test": ["192.168.7.7"]}
    real = ThreadedResolver.resolve

    async def resolve(self: Any, host: str, port: int = 0, family: Any = 0) -> Any:
        if host not in answers:
            return await real(self, host, port, family)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            {"hostname": host, "host": address, "port": port, "family": 2, "proto": 0, "flags": 0}
        ]

    monkeypatch.setattr(ThreadedResolver, "resolve", resolve)
    world = webhook_world
    team = await world.team()
    status, problem = await world.request(
        team, "owner", "POST", "/api/v1/webhooks",
        {"url": "https://inside.test/hook", "event_types": ["lead.captured"]},
    )  # fmt: skip
    assert status == 422
    assert "not public" in problem["errors"][0]["message"]
    endpoint = await create(world, team, "http://rebind.test/hook")  # public at creation
    delivery_id = await send_test(world, team, endpoint["id"])
    row = await settled(world, team, endpoint["id"], delivery_id)
    assert row["state"] == "failed"
    assert row["error_class"] == "ssrf_refused"
    assert row["status_code"] is None


async def test_a_claim_whose_worker_died_is_retried(
    webhook_world: World, receiver: Receiver
) -> None:
    from broadcast.integrations import repository as repo
    from broadcast.integrations.consumers import enqueue

    world = webhook_world
    team = await world.team()
    endpoint = await create(world, team, receiver.url("crash"))
    # Queue and claim in one transaction (so the running worker never sees it unclaimed),
    # then "die": nothing is sent and no outcome recorded.
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        delivery_id = await enqueue(
            conn, world.cipher, team.tenant_id, uuid.UUID(endpoint["id"]), uuid.uuid4(),
            "webhook.test", "2026-01-01T00:00:00Z", {"endpoint_id": endpoint["id"]},
        )  # fmt: skip
        assert delivery_id is not None
        claimed = await repo.claim(conn, delivery_id, 0.5)
        assert claimed is not None
        assert claimed["attempt"] == 1
    [hit] = await receiver.wait("crash")  # after the lease, another worker took it
    verify(endpoint["secret"], hit.headers, hit.body)
    row = await settled(world, team, endpoint["id"], str(delivery_id))
    assert row["state"] == "succeeded"
    assert row["attempt"] == 2


async def test_delivery_log_pages(webhook_world: World, receiver: Receiver) -> None:
    world = webhook_world
    team = await world.team()
    endpoint = await create(world, team, receiver.url("paged"))
    for _ in range(3):
        await send_test(world, team, endpoint["id"])
    base = f"/api/v1/webhooks/{endpoint['id']}/deliveries"
    status, first = await world.request(team, "owner", "GET", f"{base}?limit=2")
    assert status == 200
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    status, second = await world.request(
        team, "owner", "GET", f"{base}?limit=2&after={first['next_cursor']}"
    )
    assert status == 200
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    ids = [d["id"] for d in first["items"] + second["items"]]
    assert len(set(ids)) == 3
    assert (await world.request(team, "owner", "GET", f"{base}?after=zz"))[0] == 422
    assert (await world.request(team, "owner", "GET", f"{base}?limit=1000"))[0] == 422


async def test_roles_tenants_and_scopes(webhook_world: World, receiver: Receiver) -> None:
    world = webhook_world
    team, other = await world.team(), await world.team()
    endpoint = await create(world, team, receiver.url("private"))
    delivery_id = await send_test(world, team, endpoint["id"])
    await settled(world, team, endpoint["id"], delivery_id)
    one = f"/api/v1/webhooks/{endpoint['id']}"
    routes: list[tuple[str, str, Any]] = [
        ("GET", one, None),
        ("PATCH", one, {"description": "x"}),
        ("POST", f"{one}/rotate-secret", None),
        ("GET", f"{one}/deliveries", None),
        ("POST", f"{one}/deliveries/{delivery_id}/redeliver", None),
        ("POST", f"{one}/test", None),
        ("DELETE", one, None),
    ]
    for method, path, body in routes:
        # Another tenant's ids answer like unknown ones.
        assert (await world.request(other, "owner", method, path, body))[0] == 404, path
        for role in ("agent", "viewer"):
            assert (await world.request(team, role, method, path, body))[0] == 403, path
    for method, path in (("GET", "/api/v1/webhooks"), ("POST", "/api/v1/webhooks")):
        body = {"url": receiver.url("x"), "event_types": ["lead.captured"]}
        for role in ("agent", "viewer"):
            assert (await world.request(team, role, method, path, body))[0] == 403
    status, listed = await world.request(other, "owner", "GET", "/api/v1/webhooks")
    assert status == 200
    assert listed["items"] == []
    # The catalogue of event types (the dashboard's checkboxes): managers only, like the list.
    status, types = await world.request(team, "admin", "GET", "/api/v1/webhooks/event-types")
    assert status == 200
    assert types["test_event"] == "webhook.test"
    assert {"message.received", "lead.captured", "campaign.finished"} <= set(types["items"])
    for role in ("agent", "viewer"):
        path = "/api/v1/webhooks/event-types"
        assert (await world.request(team, role, "GET", path))[0] == 403
    # A delivery of this endpoint under another of the tenant's own endpoints: not found.
    sibling = await create(world, team, receiver.url("sibling"))
    status, _ = await world.request(
        team, "owner", "POST",
        f"/api/v1/webhooks/{sibling['id']}/deliveries/{delivery_id}/redeliver",
    )  # fmt: skip
    assert status == 404

    # API keys (forwarded by the gateway as role agent with their scopes).
    def key(*scopes: str) -> str:
        token, _ = world.signer.issue(
            user_id=uuid.uuid4(), tenant_id=team.tenant_id, role="agent", scopes=scopes
        )
        return token  # type: ignore[no-any-return]

    team.tokens["reader"] = key("webhooks:read")
    team.tokens["writer"] = key("webhooks:write")
    team.tokens["unrelated"] = key("contacts:read")
    assert (await world.request(team, "reader", "GET", one))[0] == 200
    types_path = "/api/v1/webhooks/event-types"
    assert (await world.request(team, "reader", "GET", types_path))[0] == 200
    assert (await world.request(team, "unrelated", "GET", types_path))[0] == 403
    assert (await world.request(team, "reader", "PATCH", one, {"description": "y"}))[0] == 403
    assert (await world.request(team, "unrelated", "GET", one))[0] == 403
    status, patched = await world.request(team, "writer", "PATCH", one, {"description": "y"})
    assert status == 200
    assert patched["description"] == "y"
    assert (await world.request(team, "owner", "DELETE", one))[0] == 204
    assert (await world.request(team, "owner", "GET", one))[0] == 404


async def test_the_log_keeps_finished_deliveries_for_the_retention(
    webhook_world: World, receiver: Receiver
) -> None:
    from broadcast.integrations.consumers import WebhookDeps
    from broadcast.integrations.worker import DeliveryWorker, WorkerConfig

    world = webhook_world
    team = await world.team()
    endpoint = await create(world, team, receiver.url("pruned"))
    old, recent = await send_test(world, team, endpoint["id"]), None
    await settled(world, team, endpoint["id"], old)
    recent = await send_test(world, team, endpoint["id"])
    await settled(world, team, endpoint["id"], recent)
    async with tenant_transaction(world.pool, team.tenant_id) as conn:
        await conn.execute(
            "UPDATE webhook_deliveries SET created_at = now() - interval '31 days' WHERE id = $1",
            uuid.UUID(old),
        )
    worker = DeliveryWorker(
        WebhookDeps(world.pool, world.cipher), world.settings, WorkerConfig(retention_days=30)
    )
    assert await worker.prune() >= 1
    assert [d["id"] for d in await deliveries(world, team, endpoint["id"])] == [recent]


async def test_the_plan_caps_the_endpoints(webhook_world: World, receiver: Receiver) -> None:
    world = webhook_world
    team = await world.team()
    for index in range(3):  # Starter: three endpoints
        await create(world, team, receiver.url(f"cap{index}"))
    body = {"url": receiver.url("cap3"), "event_types": ["message.received"]}
    status, problem = await world.request(team, "owner", "POST", "/api/v1/webhooks", body)
    assert status == 403
    assert problem["type"].endswith("/plan-limit-reached")
    assert (problem["limit"], problem["allowed"], problem["used"]) == ("webhook_endpoints", 3, 3)
    await set_plan(world.pool, team.tenant_id, "business")
    await create(world, team, receiver.url("cap3"))
