"""Forwarding to back ends (identity, request id, timeouts, errors) and the OpenAPI document."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.routes import SPECS
from majlis.http.tokens import TokenVerifier
from majlis.testing.browser import GatewayUnderTest


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in back end that records what reaches it."""
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        if request.path.endswith("/slow"):
            await asyncio.sleep(3)
        seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body": await request.text(),
            }
        )
        response = web.json_response({"ok": True}, status=201 if request.method == "POST" else 200)
        response.set_cookie("upstream", "leak")
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), seen
    await server.close()


async def test_forwarding_carries_identity_and_request_id(
    gateway_factory: Any, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = upstream
    gw: GatewayUnderTest = await gateway_factory(inbox_url=url, proxy_timeout_seconds=1.0)
    owner, _, tenant_id = await gw.owner()
    status, body, response = await owner.request(
        "POST",
        "/api/v1/conversations/abc/notes?x=1",
        json={"text": "hi"},
        headers={"X-Request-ID": "trace-12345678"},
    )
    assert status == 201, body
    assert "upstream" not in response.headers.get("Set-Cookie", "")
    forwarded = seen[-1]
    assert forwarded["path"] == "/api/v1/conversations/abc/notes?x=1"
    assert forwarded["headers"]["X-Request-ID"] == "trace-12345678"
    assert "Cookie" not in forwarded["headers"]
    token = forwarded["headers"]["Authorization"].removeprefix("Bearer ")
    claims = TokenVerifier.from_settings(gw.settings).decode(token)
    assert claims.tenant_id == tenant_id
    # API keys reach back ends as a short-lived token of their own, with their scopes.
    _, key, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "k", "scopes": ["conversations:read"]}
    )
    client = gw.browser()
    client.token = key["key"]
    assert (await client.request("GET", "/api/v1/conversations"))[0] == 200
    minted = seen[-1]["headers"]["Authorization"].removeprefix("Bearer ")
    key_claims = TokenVerifier.from_settings(gw.settings).decode(minted)
    assert key_claims.scopes == ("conversations:read",)
    assert key_claims.expires_at - key_claims.issued_at == 60
    assert str(key_claims.user_id) == key["id"]


async def test_forwarding_needs_authentication_and_csrf(
    gateway_factory: Any, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = upstream
    gw: GatewayUnderTest = await gateway_factory(inbox_url=url)
    anonymous = gw.browser()
    assert (await anonymous.request("GET", "/api/v1/contacts"))[0] == 401
    owner, _, _ = await gw.owner()
    assert (await owner.request("POST", "/api/v1/contacts", json={}, csrf=False))[0] == 403
    assert seen == []
    assert (await owner.request("GET", "/api/v1/nonexistent-thing"))[0] == 404


async def test_back_end_down_or_slow(
    gateway_factory: Any, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    url, _ = upstream
    gw: GatewayUnderTest = await gateway_factory(
        inbox_url=url, proxy_timeout_seconds=0.5, chatflow_url="http://127.0.0.1:9"
    )
    owner, _, _ = await gw.owner()
    status, body, response = await owner.request("GET", "/api/v1/contacts/slow")
    assert status == 504
    assert response.content_type == "application/problem+json"
    status, body, _ = await owner.request("GET", "/api/v1/flows")
    assert status == 502
    assert body["type"].endswith("/bad-gateway")


async def test_openapi_covers_every_route(gateway: GatewayUnderTest) -> None:
    status, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
        # Forwarded families are documented per method too; the router serves them with
        # one catch-all (skipped on the served side below).
        and "x-majlis-proxy" not in item
    }
    served = set()
    for resource in gateway.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter", "")
        if (
            path in ("/healthz", "/readyz", "/metrics")
            or "{rest" in path
            or path == "/api/v1/{resource}"
        ):
            continue
        for route in resource:
            if route.method != "HEAD":
                served.add((route.method, path))
    assert served == documented
    assert {(s.method, s.path) for s in SPECS} == documented
    schemas = document["components"]["schemas"]

    def forbids_unknown_fields(ref: str) -> bool:
        schema = schemas[ref.rsplit("/", 1)[1]]
        if "oneOf" in schema:  # a union chosen by a discriminator: every member forbids them
            return all(forbids_unknown_fields(member["$ref"]) for member in schema["oneOf"])
        return schema.get("additionalProperties") is False

    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch") and op.get("requestBody"):
                content = op["requestBody"]["content"]
                if "application/json" not in content:  # the CSV uploads: text, streamed
                    assert content == {"text/csv": {"schema": {"type": "string"}}}, path
                    continue
                ref = content["application/json"]["schema"]["$ref"]
                assert forbids_unknown_fields(ref), path


async def test_uploads_are_streamed_up_to_their_own_limit(gateway_factory: Any) -> None:
    received: list[int] = []

    async def sink(request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
        received.append(size)
        return web.json_response({"bytes": size})

    app = web.Application()
    app.router.add_post("/api/v1/contacts/import", sink)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        gw: GatewayUnderTest = await gateway_factory(
            inbox_url=str(server.make_url("")).rstrip("/"), max_upload_bytes=3 * 1024 * 1024
        )
        owner, _, _ = await gw.owner()
        csv = {"Content-Type": "text/csv"}
        # Above the 1 MB body limit of ordinary requests, below the upload limit: passes whole.
        two_mb = b"phone\n" + b"+971501234567\n" * (2 * 1024 * 1024 // 14)
        status, body, _ = await owner.request(
            "POST", "/api/v1/contacts/import", data=io.BytesIO(two_mb), headers=csv
        )
        assert status == 200, body
        assert body == {"bytes": len(two_mb)}
        # Above the upload limit: refused before the back end is called.
        too_big = b"x" * (3 * 1024 * 1024 + 1)
        status, body, _ = await owner.request(
            "POST", "/api/v1/contacts/import", data=io.BytesIO(too_big), headers=csv
        )
        assert status == 413, body
        assert received == [len(two_mb)]
        # Other routes keep the ordinary limit.
        status, _, _ = await owner.request(
            "POST",
            "/api/v1/contacts",
            data=io.BytesIO(two_mb),
            headers={"Content-Type": "application/json"},
        )
        assert status == 413
    finally:
        await server.close()
