"""The gateway serves the dashboard: the index for every app path, immutable hashed assets,
a strict Content-Security-Policy on every answer, and a clear page when nothing is built."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.static import DEFAULT_DIST, DIST_DIR, dashboard_middleware
from majlis.testing.browser import GatewayUnderTest

EXPECTED_CSP = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
}


def _directives(response: aiohttp.ClientResponse) -> set[str]:
    return {part.strip() for part in response.headers["Content-Security-Policy"].split(";")}


def _assert_secure_headers(response: aiohttp.ClientResponse, host: str) -> None:
    directives = _directives(response)
    assert directives >= EXPECTED_CSP, directives
    assert f"connect-src 'self' ws://{host} wss://{host}" in directives
    assert not any("unsafe" in d for d in directives)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_gateway_serves_the_built_app_with_strict_headers(
    gateway: GatewayUnderTest,
) -> None:
    assert (DEFAULT_DIST / "index.html").is_file(), "run `make dashboard` (make test does)"
    host = gateway.base.removeprefix("http://")
    session = gateway.session
    index = (DEFAULT_DIST / "index.html").read_text()
    for path in ("/", "/app", "/app/", "/app/inbox/0b0c", "/app/contacts", "/invite"):
        async with session.get(gateway.base + path) as response:
            assert response.status == 200, path
            assert response.content_type == "text/html"
            assert response.headers["Cache-Control"] == "no-cache"
            assert await response.text() == index
            _assert_secure_headers(response, host)
    # Every asset the index names is served, immutable for a year; none is inline.
    assert "<script>" not in index
    assert "<style" not in index
    assets = re.findall(r'(?:src|href)="(/app/assets/[^"]+)"', index)
    assert {a.rsplit(".", 1)[1] for a in assets} == {"js", "css"}, index
    for asset in assets:
        async with session.get(gateway.base + asset) as response:
            assert response.status == 200, asset
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            _assert_secure_headers(response, host)
    async with session.get(gateway.base + "/app/assets/missing-0000.js") as response:
        assert response.status == 404  # a missing asset is not the index
    # The API keeps answering problems, not the app.
    async with session.get(gateway.base + "/api/v1/me") as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"


@pytest.fixture
async def dist_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, Path]]:
    """Only the dashboard middleware, over a dist folder the test controls."""
    app = web.Application(middlewares=[dashboard_middleware])
    dist = tmp_path / "dist"
    app[DIST_DIR] = dist
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, dist
    await server.close()


async def test_a_missing_build_says_how_to_build(dist_server: tuple[TestServer, Path]) -> None:
    server, _ = dist_server
    async with aiohttp.ClientSession() as session, session.get(server.make_url("/")) as response:
        assert response.status == 503
        assert response.content_type == "text/html"
        assert "make dashboard" in await response.text()
        _assert_secure_headers(response, f"127.0.0.1:{server.port}")


async def test_files_outside_the_build_and_writes_are_refused(
    dist_server: tuple[TestServer, Path], tmp_path: Path
) -> None:
    server, dist = dist_server
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    (dist / "favicon.svg").write_text("<svg/>")
    (dist / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not for the web")
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/app/assets/app-1234.js") as response:
            assert response.status == 200
            assert "immutable" in response.headers["Cache-Control"]
        async with session.get(base + "/app/favicon.svg") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "public, max-age=3600"
        for probe in ("/app/assets/../../secret.txt", "/app/assets/%2e%2e/%2e%2e/secret.txt"):
            async with session.get(base + probe) as response:
                assert "not for the web" not in await response.text(), probe
        async with session.post(base + "/app/inbox", data=b"x") as response:
            assert response.status == 405
            assert response.headers["Allow"] == "GET, HEAD"
        async with session.get(base + "/api/v1/anything") as response:
            assert response.status == 404  # not ours: passed on to the router
