"""The gateway's live stream (WebSocket /api/v1/stream) in front of a running inbox.

Streams authenticate with their first frame, see only their tenant's events (filtered by
role), are closed when their session ends, and a slow reader is dropped, never waited for.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from gateway.context import CONTEXT
from gateway.stream_hub import HUB, Hub
from majlis.db import create_pool
from majlis.events import Envelope, make_envelope
from majlis.events.broadcast import WebhookEndpointDisabled
from majlis.events.inbox import ContactMerged, ConversationUpdated, InboxAuditRecorded
from majlis.messaging import Bus, OutboxRelay, queue_name
from majlis.testing.browser import Browser

STREAM = "/api/v1/stream"


@pytest.fixture
def hub(inbox_world: Any) -> Iterator[Hub]:
    """The gateway's hub; knobs a test lowers are restored afterwards."""
    hub: Hub = inbox_world.gateway.app[HUB]
    saved = dict(vars(hub))
    yield hub
    for name, value in saved.items():
        if not name.startswith("_"):
            setattr(hub, name, value)


@pytest.fixture
async def relay(inbox_world: Any, settings: Any) -> AsyncIterator[Callable[[uuid.UUID], None]]:
    """Relays a tenant's outbox rows promptly to this run's bus.

    Test runs at the same time share the database, and their relays publish whatever rows
    they find under their own bus prefix: a fast relay limited to the test's tenant wins.
    """
    pool = await create_pool(
        settings.outbox_relay_database_url.get_secret_value(), min_size=1, max_size=2
    )
    running: list[tuple[OutboxRelay, asyncio.Task[None]]] = []

    def follow(tenant_id: uuid.UUID) -> None:
        relay = OutboxRelay(
            pool, inbox_world.publisher, batch_size=100, poll_interval=0.01, tenant_ids=[tenant_id]
        )
        running.append((relay, asyncio.create_task(relay.run())))

    yield follow
    for relay, task in running:
        await relay.stop()
        await task
    await pool.close()


async def open_ws(
    world: Any,
    browser: Browser,
    *,
    path: str = STREAM,
    headers: dict[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> aiohttp.ClientWebSocketResponse:
    sent = {"X-Forwarded-For": browser.ip, **(headers or {})}
    client = session or world.gateway.session
    return await client.ws_connect(world.gateway.base + path, headers=sent, autoping=True)


PRESENCE = "gateway.presence.changed"


async def frame(
    ws: aiohttp.ClientWebSocketResponse, within: float = 5.0, *, presence: bool = False
) -> Any:
    """The next JSON frame, presence events only if asked for; None once the socket closed."""
    async with asyncio.timeout(within):
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return None
            assert message.type is aiohttp.WSMsgType.TEXT, message
            got = message.json()
            if presence or got.get("event") != PRESENCE:
                return got


async def connect(world: Any, browser: Browser, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
    """A stream authenticated with the browser's access token, ready for events."""
    ws = await open_ws(world, browser, **kwargs)
    await ws.send_json({"type": "auth", "token": browser.token})
    ready = await frame(ws)
    assert ready is not None
    assert ready["type"] == "ready", ready
    return ws


async def next_event(
    ws: aiohttp.ClientWebSocketResponse, event: str, within: float = 10.0
) -> dict[str, Any]:
    """The next event frame of type `event`, skipping others."""
    async with asyncio.timeout(within):
        while True:
            got = await frame(ws, within)
            assert got is not None, "stream closed"
            if got["type"] == "event" and got["event"] == event:
                return dict(got)


async def frames_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[Any]:
    """Every frame that arrives within `seconds`."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = await frame(ws, left)
        except TimeoutError:
            break
        if item is None:
            break
        got.append(item)
    return got


async def closed_with(
    ws: aiohttp.ClientWebSocketResponse, within: float = 5.0
) -> tuple[int, list[Any]]:
    """Read until the server closes; the close code and what came before it."""
    seen: list[Any] = []
    async with asyncio.timeout(within):
        while (item := await frame(ws, within)) is not None:
            seen.append(item)
    assert ws.close_code is not None
    return ws.close_code, seen


def envelope(team: Any, event: Any) -> Envelope:
    return make_envelope(event, tenant_id=team.tenant_id)


def conversation_event(team: Any) -> ConversationUpdated:
    return ConversationUpdated(
        conversation_id=uuid.uuid4(),
        contact_id=uuid.uuid4(),
        number_id=team.number_id,
        change="status",
        status="open",
    )


async def test_events_reach_their_tenant_only_and_every_role(
    inbox_world: Any, relay: Callable[[uuid.UUID], None]
) -> None:
    a, b = await inbox_world.team(), await inbox_world.team()
    relay(a.tenant_id)
    agent, viewer = await connect(inbox_world, a.agent), await connect(inbox_world, a.viewer)
    other = await connect(inbox_world, b.owner)
    conversation_id, message_id = await inbox_world.inbound(a, phone=inbox_world.fresh_phone())
    for ws in (agent, viewer):
        got = await next_event(ws, "inbox.message.stored")
        assert set(got) == {"type", "event", "id", "occurred_at", "data"}
        assert got["data"]["message_id"] == str(message_id)
        assert got["data"]["conversation_id"] == str(conversation_id)
        uuid.UUID(got["id"])
        assert "Hello" not in str(got)  # ids only, never the body
    assert not [f for f in await frames_within(other, 1.0) if f["type"] == "event"]
    # The shared durable queue is drained, never left to fill up.
    bus: Bus = inbox_world.publisher.bus
    channel = await bus.channel(publisher_confirms=False)
    try:
        name = queue_name(bus.prefix, "gateway.live")
        waiting: int | None = -1
        for _ in range(50):
            declared = await channel.declare_queue(name, passive=True)
            waiting = declared.declaration_result.message_count
            if not waiting:
                break
            await asyncio.sleep(0.1)
        assert not waiting
    finally:
        await channel.close()
    for ws in (agent, viewer, other):
        await ws.close()


async def test_audit_events_never_and_contact_events_not_to_viewers(inbox_world: Any) -> None:
    a = await inbox_world.team()
    agent, viewer = await connect(inbox_world, a.agent), await connect(inbox_world, a.viewer)
    audit = InboxAuditRecorded(action="test.stream.audited", actor_type="system")
    merged = ContactMerged(source_id=uuid.uuid4(), target_id=uuid.uuid4())
    marker = conversation_event(a)
    for event in (audit, merged, marker):
        await inbox_world.publisher.publish(envelope(a, event))
    # One queue keeps the order: whatever the stream may see arrives before the marker.
    seen_by_agent: list[str] = []
    while not seen_by_agent or seen_by_agent[-1] != "inbox.conversation.updated":
        got = await frame(agent, 10)
        if got["type"] == "event":
            seen_by_agent.append(got["event"])
    assert seen_by_agent == ["inbox.contact.merged", "inbox.conversation.updated"]
    got = await frame(viewer, 10)
    assert got["type"] == "event", got
    assert got["event"] == "inbox.conversation.updated", got
    assert got["data"]["conversation_id"] == str(marker.conversation_id)
    await agent.close()
    await viewer.close()


async def test_authentication_failures_close_4001_or_4003(inbox_world: Any, hub: Hub) -> None:
    a = await inbox_world.team()
    hub.auth_seconds = 0.5
    ctx = inbox_world.gateway.app[CONTEXT]
    user_id = a.user_ids["agent"]
    expired, _ = ctx.signer.issue(
        user_id=user_id, tenant_id=a.tenant_id, role="agent", now=time.time() - 3600
    )
    scoped, _ = ctx.signer.issue(
        user_id=uuid.uuid4(), tenant_id=a.tenant_id, role="agent", scopes=("conversations:read",)
    )
    status, key, _ = await a.owner.request(
        "POST", "/api/v1/api-keys", json={"name": "stream", "scopes": ["conversations:read"]}
    )
    assert status == 201, key
    cases: list[tuple[Any, int]] = [
        (None, 4001),  # nothing sent: the auth deadline passes
        ("not json", 4001),
        ({"type": "viewing", "conversation_id": str(uuid.uuid4())}, 4001),
        ({"type": "auth", "token": "nope"}, 4001),
        ({"type": "auth"}, 4001),
        ({"type": "auth", "token": expired}, 4001),
        ({"type": "auth", "token": key["key"]}, 4003),
        ({"type": "auth", "token": scoped}, 4003),
    ]
    for first, code in cases:
        ws = await open_ws(inbox_world, a.agent)
        if isinstance(first, str):
            await ws.send_str(first)
        elif first is not None:
            await ws.send_json(first)
        await inbox_world.publisher.publish(envelope(a, conversation_event(a)))
        closed, seen = await closed_with(ws)
        assert (closed, seen) == (code, []), first
    # A token in the URL is ignored: the first frame still has to authenticate.
    for query in (f"?token={a.agent.token}", f"?access_token={a.agent.token}"):
        ws = await open_ws(inbox_world, a.agent, path=STREAM + query)
        await ws.send_json({"type": "pong"})
        assert await closed_with(ws) == (4001, [])


async def test_foreign_origin_is_refused_before_the_upgrade(inbox_world: Any) -> None:
    a = await inbox_world.team()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_ws(inbox_world, a.agent, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await open_ws(inbox_world, a.agent, headers={"Origin": "null"})
    own = inbox_world.gateway.base
    ws = await connect(inbox_world, a.agent, headers={"Origin": own})
    await ws.close()
    status, body, _ = await a.agent.request("GET", STREAM)
    assert status == 426, body


async def test_logout_closes_a_live_stream(inbox_world: Any, hub: Hub) -> None:
    a = await inbox_world.team()
    hub.recheck_seconds = 0.3
    ws = await connect(inbox_world, a.agent)
    survivor = await connect(inbox_world, a.agent2)
    status, _, _ = await a.agent.request("POST", "/api/v1/auth/logout")
    assert status == 204
    code, _ = await closed_with(ws, within=5)
    assert code == 4001
    assert not survivor.closed
    await survivor.close()


async def test_reauth_extends_and_expiry_closes(inbox_world: Any, hub: Hub) -> None:
    a = await inbox_world.team()
    ctx = inbox_world.gateway.app[CONTEXT]
    short, _ = ctx.signer.issue(
        user_id=a.user_ids["agent"], tenant_id=a.tenant_id, role="agent", ttl_seconds=2
    )
    ws = await open_ws(inbox_world, a.agent)
    await ws.send_json({"type": "auth", "token": short})
    assert (await frame(ws))["type"] == "ready"
    await ws.send_json({"type": "auth", "token": a.agent.token})  # a fresh token in time
    ready = await frame(ws)
    assert ready["type"] == "ready"
    assert ready["expires_at"] > time.time() + 60
    await asyncio.sleep(2.5)
    assert not ws.closed
    await ws.send_json({"type": "auth", "token": a.agent2.token})  # someone else's token
    assert (await closed_with(ws))[0] == 4003
    # Without a fresh token, the stream ends with the token.
    short, _ = ctx.signer.issue(
        user_id=a.user_ids["agent"], tenant_id=a.tenant_id, role="agent", ttl_seconds=1
    )
    ws = await open_ws(inbox_world, a.agent)
    await ws.send_json({"type": "auth", "token": short})
    assert (await closed_with(ws, within=5))[0] == 4001


async def test_heartbeat_pings_and_idle_close(inbox_world: Any, hub: Hub) -> None:
    a = await inbox_world.team()
    hub.ping_seconds, hub.idle_seconds = 0.2, 1.0
    ws = await connect(inbox_world, a.agent)
    assert (await frame(ws, 2))["type"] == "ping"
    await ws.send_json({"type": "pong"})
    await ws.send_json({"type": "ping"})
    frames = [f["type"] for f in await frames_within(ws, 0.7)]
    assert "pong" in frames
    assert "ping" in frames
    code, _ = await closed_with(ws, within=3)
    assert code == 4008  # nothing from the client for idle_seconds


async def test_bad_and_too_many_frames_close_1008(inbox_world: Any, hub: Hub) -> None:
    a = await inbox_world.team()
    ws = await connect(inbox_world, a.agent)
    bad = [
        "not json",
        '{"type": "dance"}',
        '["viewing"]',
        '{"type": "viewing", "conversation_id": "nope"}',
        '{"type": "typing"}',
        '{"type": "pong", "extra": 1}',
        '{"type": "pong", "pad": "' + "x" * 5000 + '"}',
    ]
    for text in bad:
        await ws.send_str(text)
        got = await frame(ws)
        assert got["type"] == "error", got
        assert got["title"], got
        assert "nope" not in got["title"]
        assert "dance" not in got["title"]
    await ws.send_bytes(b"\x00")
    assert (await frame(ws))["type"] == "error"
    await ws.send_str("{")
    await ws.send_str("{")
    assert (await closed_with(ws))[0] == 1008
    hub.frame_rate = 5
    ws = await connect(inbox_world, a.agent)
    for _ in range(10):
        await ws.send_json({"type": "pong"})
    assert (await closed_with(ws))[0] == 1008


def _small_buffer_socket(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@pytest.fixture
async def slow_session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(socket_factory=_small_buffer_socket)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_a_slow_client_is_dropped_without_slowing_others(
    inbox_world: Any, hub: Hub, slow_session: aiohttp.ClientSession
) -> None:
    a = await inbox_world.team()
    hub.queue_bound, hub.send_buffer_bytes = 64, 4096
    slow = await connect(inbox_world, a.agent, session=slow_session)
    fast = await connect(inbox_world, a.agent2)
    assert len(hub.streams(a.tenant_id)) == 2
    published = 0
    # Small batches: the broker's bursts stay below the bound, a stalled socket does not.
    # The fast stream reads each batch in full: the slow one never holds it up.
    while len(hub.streams(a.tenant_id)) == 2 and published < 5000:
        batch = [envelope(a, conversation_event(a)) for _ in range(40)]
        await inbox_world.publisher.publish_many(batch)
        published += len(batch)
        got = [await next_event(fast, "inbox.conversation.updated") for _ in batch]
        assert {g["id"] for g in got} == {str(sent.id) for sent in batch}
    assert [s.user_id for s in hub.streams(a.tenant_id)] == [a.user_ids["agent2"]]
    code, seen = await closed_with(slow, within=15)
    assert code == 1013
    assert len(seen) < published
    await fast.close()


async def test_a_disabled_webhook_endpoint_is_told_to_owners_and_admins_only(
    inbox_world: Any,
) -> None:
    a = await inbox_world.team()
    owner, agent = await connect(inbox_world, a.owner), await connect(inbox_world, a.agent)
    notice = WebhookEndpointDisabled(endpoint_id=uuid.uuid4(), reason="failing: 10 in a row")
    marker = conversation_event(a)
    for event in (notice, marker):
        await inbox_world.publisher.publish(envelope(a, event))
    got = await next_event(owner, "broadcast.webhook.disabled")
    assert got["data"]["endpoint_id"] == str(notice.endpoint_id)
    seen_by_agent: list[str] = []
    while not seen_by_agent or seen_by_agent[-1] != "inbox.conversation.updated":
        got = await frame(agent, 10)
        if got["type"] == "event":
            seen_by_agent.append(got["event"])
    assert seen_by_agent == ["inbox.conversation.updated"]
    await owner.close()
    await agent.close()


async def test_contacts_created_and_changed_are_announced(
    inbox_world: Any, relay: Callable[[uuid.UUID], None]
) -> None:
    a = await inbox_world.team()
    relay(a.tenant_id)
    agent = await connect(inbox_world, a.agent)
    phone = inbox_world.fresh_phone()
    status, created, _ = await a.agent.request(
        "POST", "/api/v1/contacts", json={"phone": phone, "name": "Mariam"}
    )
    assert status == 201, created
    got = await next_event(agent, "inbox.contact.changed")
    assert got["data"] == {"contact_id": created["id"], "change": "created"}
    status, body, _ = await a.agent.request(
        "PATCH", f"/api/v1/contacts/{created['id']}", json={"name": "Mariam A."}
    )
    assert status == 200, body
    got = await next_event(agent, "inbox.contact.changed")
    assert got["data"] == {"contact_id": created["id"], "change": "updated"}
    assert phone not in str(got)  # ids only
    await agent.close()
