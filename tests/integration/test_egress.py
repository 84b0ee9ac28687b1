"""The egress allow-list: refused before connecting (redirect hops too), logged by host only,
counted, and surfacing as the failure the callers already handle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from yarl import URL

from majlis.ai.providers import ProviderConfig, complete
from majlis.ai.settings import AiSettings
from majlis.meta import GraphClient, GraphUnavailable
from majlis.net.egress import (
    EgressPolicy,
    EgressRefused,
    allowed_hosts,
    egress_session,
    tenant_target_client,
)
from majlis.net.ssrf import GuardedClient
from majlis.settings import Settings

TOKEN = "EAAGm0PX4ZCpsBAKZAZBegresstoken0123456789"


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[str]]]:
    """A local server that records every request path and redirects /hop to `localhost`."""
    hits: list[str] = []

    async def any_path(request: web.Request) -> web.StreamResponse:
        hits.append(request.path_qs)
        if request.path == "/hop":
            port = request.url.port
            raise web.HTTPFound(f"http://localhost:{port}/after-redirect")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), hits
    await server.close()


def test_defaults_follow_the_configured_base_urls() -> None:
    settings = Settings(graph_api_url="", graph_simulator_port=8090)
    hosts = allowed_hosts(settings, AiSettings(openai_base_url="http://127.0.0.1:7001"))
    assert hosts[:4] == (
        "graph.facebook.com",
        "lookaside.fbsbx.com",
        "api.openai.com",
        "generativelanguage.googleapis.com",
    )
    assert "127.0.0.1:8090" in hosts
    assert "127.0.0.1:7001" in hosts
    explicit = Settings(egress_allowed_hosts=("Graph.Facebook.com",), graph_api_url="http://x.y")
    assert allowed_hosts(explicit) == ("graph.facebook.com",)


def test_host_and_port_entries() -> None:
    policy = EgressPolicy(["graph.facebook.com", "127.0.0.1:8090", "[::1]:9000", "[fd00::1]"])
    assert policy.is_allowed(URL("http://[fd00::1]:81/"))
    assert policy.is_allowed(URL("https://graph.facebook.com/v21.0/1/messages"))
    assert policy.is_allowed(URL("https://GRAPH.facebook.com./x"))
    assert policy.is_allowed(URL("http://127.0.0.1:8090/v21.0/1"))
    assert policy.is_allowed(URL("http://[::1]:9000/"))
    assert not policy.is_allowed(URL("http://127.0.0.1:8091/"))
    assert not policy.is_allowed(URL("https://graph.facebook.com.evil.example/"))
    assert not policy.is_allowed(URL("https://evil.example/?host=graph.facebook.com"))


async def test_graph_call_to_an_unlisted_host_is_refused_before_connecting(
    recorder: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, hits = recorder
    registry = CollectorRegistry()
    policy = EgressPolicy(["graph.facebook.com"], registry=registry)
    async with egress_session(policy) as session:
        graph = GraphClient(session, base_url=url, version="v21.0", timeout=5)
        with pytest.raises(GraphUnavailable):
            await graph.send_message("106540352242922", TOKEN, {"to": "971501234567"})
    assert hits == []  # nothing was sent
    assert policy.refused == {"127.0.0.1": 1}
    assert registry.get_sample_value("majlis_egress_refused_total", {"host": "127.0.0.1"}) == 1
    logged = capsys.readouterr().out
    assert "egress.refused" in logged
    assert "127.0.0.1" in logged
    assert TOKEN not in logged
    assert "106540352242922" not in logged


async def test_a_redirect_to_an_unlisted_host_is_refused(
    recorder: tuple[str, list[str]],
) -> None:
    url, hits = recorder
    policy = EgressPolicy([URL(url).authority])
    async with egress_session(policy) as session:
        async with session.get(f"{url}/fine") as response:
            assert response.status == 200
        with pytest.raises(EgressRefused) as refused:
            async with session.get(f"{url}/hop"):
                pass
    assert refused.value.host == "localhost"
    assert hits == ["/fine", "/hop"]  # the redirect target was never reached


async def test_ai_provider_refusal_is_the_usual_no_answer(
    recorder: tuple[str, list[str]],
) -> None:
    url, hits = recorder
    config = ProviderConfig("openai", url, "gpt-4o-mini", "sk-secret", max_attempts=1)
    async with egress_session(EgressPolicy(["api.openai.com"])) as session:
        assert await complete(session, config, "system", "hello") is None
    assert hits == []


async def test_tenant_targets_use_the_ssrf_guard_not_the_list(settings: Any) -> None:
    client = tenant_target_client(settings)
    assert isinstance(client, GuardedClient)
    await client.close()
