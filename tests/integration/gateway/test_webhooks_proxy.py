"""`/api/v1/webhooks` through the gateway: forwarded to broadcast; API keys need the scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from majlis.testing.browser import GatewayUnderTest


@pytest.fixture
async def broadcast_stand_in() -> AsyncIterator[tuple[str, list[tuple[str, str]]]]:
    """Records what reaches the back end."""
    seen: list[tuple[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append((request.method, request.path))
        return web.json_response({"ok": True}, status=201 if request.method == "POST" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), seen
    await server.close()


async def test_webhook_routes_need_their_scopes(
    gateway_factory: Any, broadcast_stand_in: tuple[str, list[tuple[str, str]]]
) -> None:
    url, seen = broadcast_stand_in
    gw: GatewayUnderTest = await gateway_factory(broadcast_url=url)
    owner, _, _ = await gw.owner()
    assert (await owner.request("GET", "/api/v1/webhooks"))[0] == 200
    assert seen[-1] == ("GET", "/api/v1/webhooks")

    async def key(*scopes: str) -> Any:
        status, created, _ = await owner.request(
            "POST", "/api/v1/api-keys", json={"name": "crm", "scopes": list(scopes)}
        )
        assert status == 201, created
        client = gw.browser()
        client.token = created["key"]
        return client

    reader, writer, other = (
        await key("webhooks:read"),
        await key("webhooks:write"),
        await key("contacts:read"),
    )
    before = len(seen)
    body = {"url": "https://crm.example.com/hooks", "event_types": ["lead.captured"]}
    assert (await reader.request("POST", "/api/v1/webhooks", json=body))[0] == 403
    assert (await other.request("GET", "/api/v1/webhooks"))[0] == 403
    assert len(seen) == before  # refused at the gateway, never forwarded
    assert (await reader.request("GET", "/api/v1/webhooks"))[0] == 200
    assert (await writer.request("POST", "/api/v1/webhooks", json=body))[0] == 201
    assert seen[-1] == ("POST", "/api/v1/webhooks")
    # A key issued with the scope's earlier name, webhooks:manage, keeps both.
    legacy = await key("webhooks:manage")
    assert (await legacy.request("GET", "/api/v1/webhooks"))[0] == 200
    assert (await legacy.request("POST", "/api/v1/webhooks", json=body))[0] == 201
