"""The SSRF guard: every attack refused before any connection (a local listener counts them)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from majlis.db import tenant_transaction
from majlis.net import GuardedClient, OutboundRefused


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and redirects to `location`."""

    def __init__(self) -> None:
        self.connections = 0
        self.location = "http://10.0.0.1/"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: " + self.location.encode() + b"\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, int]]:
    counter = Listener()
    server = await asyncio.start_server(counter.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield counter, port
    server.close()
    await server.wait_closed()


async def test_attacks_are_refused_without_a_connection(listener: tuple[Listener, int]) -> None:
    counter, port = listener
    client = GuardedClient()
    attacks = [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",  # a name that resolves to loopback
        f"http://2130706433:{port}/",  # decimal
        f"http://0x7f.1:{port}/",  # hex, short form
        f"http://0177.0.0.1:{port}/",  # octal
        f"http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
        f"http://[::1]:{port}/",
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ]
    try:
        for url in attacks:
            with pytest.raises(OutboundRefused):
                await client.request("GET", url, timeout_s=2)
    finally:
        await client.close()
    assert counter.connections == 0


async def test_a_redirect_to_a_private_address_is_refused(listener: tuple[Listener, int]) -> None:
    counter, port = listener
    # Loopback allowed (development) so the first hop connects; the redirect target does not.
    client = GuardedClient(allow_loopback=True)
    try:
        for location in ("http://10.0.0.1/", "http://169.254.169.254/", "http://0x7f000001.x/"):
            counter.location = location if "x/" not in location else "http://[::ffff:a00:1]/"
            with pytest.raises(OutboundRefused):
                await client.request("GET", f"http://127.0.0.1:{port}/", timeout_s=2)
    finally:
        await client.close()
    assert counter.connections == 3  # only the allowed first hops


def _calling(url: str) -> dict[str, Any]:
    return {
        "start": "call",
        "nodes": [
            {"id": "call", "type": "http_request", "url": url},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "call", "to": "done"}],
    }


async def test_a_flow_calling_an_internal_address_is_refused_when_saved_or_published(
    flow_world: Any,
) -> None:
    team = await flow_world.team()
    owner = team.people["owner"]
    for url in ("http://169.254.169.254/latest/meta-data/", "http://0x0a.1/", "gopher://x.test/"):
        status, body, _ = await owner.request(
            "POST", "/api/v1/flows", json={"name": "F", "document": _calling(url)}
        )
        assert status == 422, (url, body)
        assert body["type"].endswith("invalid-flow"), body
        assert [(e["node_id"], e["field"]) for e in body["errors"]] == [("call", "url")]
    status, flow, _ = await owner.request(
        "POST", "/api/v1/flows", json={"name": "F", "document": _calling("https://api.test/")}
    )
    assert status == 201, flow
    path = f"/api/v1/flows/{flow['id']}"
    status, body, _ = await owner.request(
        "PUT", path, json={"name": "F", "document": _calling("http://10.0.0.7/")}
    )
    assert status == 422, body
    # A draft stored before this check existed is refused when published.
    async with tenant_transaction(flow_world.pool, team.tenant_id, "owner") as conn:
        await conn.execute(
            "UPDATE flows SET document = $2 WHERE id = $1",
            uuid.UUID(flow["id"]),
            _calling("http://192.168.0.1/"),
        )
    status, body, _ = await owner.request("POST", f"{path}/publish")
    assert status == 422, body
    assert [(e["node_id"], e["field"]) for e in body["errors"]] == [("call", "url")]
    status, versions, _ = await owner.request("GET", f"{path}/versions")
    assert versions["items"] == []
