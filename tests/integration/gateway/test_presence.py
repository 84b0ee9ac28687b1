"""Presence through the gateway: your own status, who is online, who views a conversation.

Presence is per tenant: another tenant's users and conversations are never visible, and a
change reaches the live streams of the same tenant only.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from majlis.testing.browser import Browser, GatewayUnderTest

PRESENCE = "gateway.presence.changed"


async def user_id(browser: Browser) -> str:
    status, me, _ = await browser.request("GET", "/api/v1/me")
    assert status == 200, me
    return str(me["user"]["id"])


async def stream(gateway: GatewayUnderTest, browser: Browser) -> aiohttp.ClientWebSocketResponse:
    ws = await gateway.session.ws_connect(
        gateway.base + "/api/v1/stream", headers={"X-Forwarded-For": browser.ip}
    )
    await ws.send_json({"type": "auth", "token": browser.token})
    ready = await ws.receive_json(timeout=5)
    assert ready["type"] == "ready", ready
    return ws


async def presence_events(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[Any]:
    """The presence events a stream receives within `seconds`."""
    found: list[Any] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return found
                frame = message.json()
                if frame.get("event") == PRESENCE:
                    found.append(frame["data"])
    except TimeoutError:
        return found


async def test_own_status_is_listed_for_the_same_tenant_only(gateway: GatewayUnderTest) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, _ = await gateway.owner()
    agent_a, _ = await gateway.member(owner_a, "agent")
    viewer_a, _ = await gateway.member(owner_a, "viewer")
    agent_id = await user_id(agent_a)
    status, body, _ = await agent_a.request("PUT", "/api/v1/me/presence", json={"status": "away"})
    assert (status, body) == (200, {"user_id": agent_id, "status": "away"})
    status, listed, _ = await viewer_a.request("GET", "/api/v1/presence")
    assert status == 200
    assert {"user_id": agent_id, "status": "away"} in listed
    status, listed, _ = await owner_b.request("GET", "/api/v1/presence")
    assert status == 200
    assert agent_id not in {p["user_id"] for p in listed}
    status, _, _ = await viewer_a.request("PUT", "/api/v1/me/presence", json={"status": "online"})
    assert status == 200
    assert {"user_id": await user_id(viewer_a), "status": "online"} in (
        await viewer_a.request("GET", "/api/v1/presence")
    )[1]
    status, _, _ = await agent_a.request("PUT", "/api/v1/me/presence", json={"status": "offline"})
    assert status == 200
    _, listed, _ = await owner_a.request("GET", "/api/v1/presence")
    assert agent_id not in {p["user_id"] for p in listed}


async def test_status_input_is_validated_and_needs_a_session(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    for body in ({"status": "busy"}, {}, {"status": "online", "extra": 1}):
        status, problem, _ = await owner.request("PUT", "/api/v1/me/presence", json=body)
        assert status == 422, problem
    status, _, _ = await owner.request(
        "PUT", "/api/v1/me/presence", json={"status": "online"}, csrf=False
    )
    assert status == 403
    status, key, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "presence", "scopes": ["conversations:read"]}
    )
    assert status == 201, key
    api = gateway.browser()
    api.token = key["key"]
    status, _, _ = await api.request("GET", "/api/v1/presence")
    assert status == 403
    status, _, _ = await gateway.browser().request("GET", "/api/v1/presence")
    assert status == 401


async def test_changes_reach_the_tenants_streams_only(gateway: GatewayUnderTest) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, _ = await gateway.owner()
    agent_a, _ = await gateway.member(owner_a, "agent")
    agent_id = await user_id(agent_a)
    watching_a, watching_b = await stream(gateway, owner_a), await stream(gateway, owner_b)
    await agent_a.request("PUT", "/api/v1/me/presence", json={"status": "away"})
    seen = await presence_events(watching_a, 2.0)
    assert {"user_id": agent_id, "scope": "agent", "state": "away", "conversation_id": None} in seen
    assert not [e for e in await presence_events(watching_b, 0.5) if e["user_id"] == agent_id]
    await watching_a.close()
    await watching_b.close()


async def test_a_stream_marks_its_user_online(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    agent, _ = await gateway.member(owner, "agent")
    agent_id = await user_id(agent)
    _, listed, _ = await owner.request("GET", "/api/v1/presence")
    assert agent_id not in {p["user_id"] for p in listed}
    ws = await stream(gateway, agent)
    await ws.send_json({"type": "pong"})
    for _ in range(50):
        _, listed, _ = await owner.request("GET", "/api/v1/presence")
        if {"user_id": agent_id, "status": "online"} in listed:
            break
        await asyncio.sleep(0.05)
    assert {"user_id": agent_id, "status": "online"} in listed
    await ws.close()


async def test_conversation_presence_per_tenant(gateway: GatewayUnderTest) -> None:
    owner_a, _, _ = await gateway.owner()
    owner_b, _, _ = await gateway.owner()
    agent_a, _ = await gateway.member(owner_a, "agent")
    viewer_a, _ = await gateway.member(owner_a, "viewer")
    agent_id = await user_id(agent_a)
    conversation = str(uuid.uuid4())
    typing, watching_a = await stream(gateway, agent_a), await stream(gateway, viewer_a)
    watching_b = await stream(gateway, owner_b)
    await typing.send_json({"type": "typing", "conversation_id": conversation})
    expected = {
        "user_id": agent_id,
        "scope": "conversation",
        "state": "typing",
        "conversation_id": conversation,
    }
    assert expected in await presence_events(watching_a, 2.0)
    assert not [
        e for e in await presence_events(watching_b, 0.5) if e["conversation_id"] == conversation
    ]
    path = f"/api/v1/presence/conversations/{conversation}"
    status, listed, _ = await viewer_a.request("GET", path)
    assert status == 200
    assert listed == sorted(
        [{"user_id": agent_id, "state": "typing"}, {"user_id": agent_id, "state": "viewing"}],
        key=lambda p: p["state"],
    )
    status, listed, _ = await owner_b.request("GET", path)
    assert (status, listed) == (200, [])
    await typing.send_json({"type": "left", "conversation_id": conversation})
    assert {**expected, "state": "left"} in await presence_events(watching_a, 2.0)
    status, listed, _ = await viewer_a.request("GET", path)
    assert (status, listed) == (200, [])
    status, _, _ = await viewer_a.request("GET", "/api/v1/presence/conversations/not-a-uuid")
    assert status == 404
    for ws in (typing, watching_a, watching_b):
        await ws.close()
