"""GET /api/v1/platform/residency: owners only, configuration facts, no secrets; and the
egress refusal of a Graph API base URL that is not on the allow-list, seen end to end."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from majlis.settings import Settings
from majlis.testing.browser import GatewayUnderTest

TOKEN = "EAAGm0PX4ZCpsBAKZAZBresidencytoken0123456789"
PATH = "/api/v1/platform/residency"


async def test_owner_sees_regions_stores_egress_and_encryption(
    gateway: GatewayUnderTest,
) -> None:
    owner, _, _ = await gateway.owner()
    status, body, response = await owner.request("GET", PATH)
    assert status == 200, body
    assert response.headers["Cache-Control"] == "no-store"
    assert body["data_region"] == "ae"
    assert [(s["name"], s["region"]) for s in body["stores"]] == [
        ("postgresql", "ae"),
        ("redis", "ae"),
        ("rabbitmq", "ae"),
    ]
    assert {s["host"] for s in body["stores"]} == {"127.0.0.1"}
    hosts = body["egress"]["allowed_hosts"]
    assert "graph.facebook.com" in hosts
    assert "lookaside.fbsbx.com" in hosts
    assert any(h.startswith("127.0.0.1:") for h in hosts)  # the simulator, as configured
    assert isinstance(body["egress"]["refused_total"], int)
    assert body["encryption_at_rest"]["field_encryption"] == "AES-256-GCM"
    assert body["encryption_at_rest"]["active_key_id"] == "k1"


async def test_residency_holds_no_secrets(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    _, body, _ = await owner.request("GET", PATH)
    text = json.dumps(body)
    settings = gateway.settings
    secrets = [
        settings.database_url.get_secret_value(),
        settings.redis_url.get_secret_value(),
        settings.amqp_url.get_secret_value(),
        "guest:guest",
        "majlis_app",
        settings.gateway_secret.get_secret_value(),
        settings.blind_index_key.get_secret_value(),
        settings.meta_app_secret.get_secret_value(),
        *(part.split(":", 1)[1] for part in settings.encryption_keys.get_secret_value().split(",")),
    ]
    for secret in secrets:
        assert secret not in text


async def test_only_owners_read_residency(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    for role in ("admin", "agent", "viewer"):
        member, _ = await gateway.member(owner, role)
        status, body, _ = await member.request("GET", PATH)
        assert (status, body["type"].rsplit("/", 1)[1]) == (403, "forbidden"), role
    _, key, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "k", "scopes": ["analytics:read"]}
    )
    integration = gateway.browser()
    integration.token = key["key"]
    assert (await integration.request("GET", PATH))[0] == 403
    assert (await gateway.browser().request("GET", PATH))[0] == 401


async def test_regions_follow_their_settings(gateway_factory: Any) -> None:
    configured = await gateway_factory(
        data_region="ae", postgres_region="me-central-1", redis_region="uaenorth"
    )
    owner, _, _ = await configured.owner()
    _, body, _ = await owner.request("GET", PATH)
    regions = {s["name"]: s["region"] for s in body["stores"]}
    assert regions == {"postgresql": "me-central-1", "redis": "uaenorth", "rabbitmq": "ae"}


@pytest.fixture
async def meta_stand_in() -> AsyncIterator[tuple[str, list[str]]]:
    """Answers like the Graph API and records every request it gets."""
    hits: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"id": "1", "display_phone_number": "+971 4 000 0000"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), hits
    await server.close()


async def test_graph_url_off_the_list_is_refused_logged_without_token_and_counted(
    gateway_factory: Any,
    meta_stand_in: tuple[str, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, hits = meta_stand_in
    strict: GatewayUnderTest = await gateway_factory(
        graph_api_url=url, egress_allowed_hosts=("graph.facebook.com", "lookaside.fbsbx.com")
    )
    owner, _, _ = await strict.owner()
    _, before, _ = await owner.request("GET", PATH)
    phone_number_id = str(uuid.uuid4().int)[:15]
    status, body, _ = await owner.request(
        "POST",
        "/api/v1/numbers",
        json={
            "phone_number_id": phone_number_id,
            "waba_id": "102290129340398",
            "display_number": "+971 4 123 4567",
            "access_token": TOKEN,
        },
    )
    assert (status, body["type"].rsplit("/", 1)[1]) == (503, "graph-unavailable"), body
    assert hits == []  # refused before any connection
    logged = capsys.readouterr().out
    refusals = [line for line in logged.splitlines() if "egress.refused" in line]
    assert refusals
    assert all("127.0.0.1" in line for line in refusals)
    assert TOKEN not in logged
    assert not any(phone_number_id in line for line in refusals)  # host only, no path
    async with strict.session.get(f"{strict.base}/metrics") as metrics:
        text = await metrics.text()
    assert 'majlis_egress_refused_total{host="127.0.0.1"} 1.0' in text
    _, after, _ = await owner.request("GET", PATH)
    assert after["egress"]["refused_total"] == before["egress"]["refused_total"] + 1
    assert after["egress"]["allowed_hosts"] == ["graph.facebook.com", "lookaside.fbsbx.com"]


def test_settings_default_region() -> None:
    assert Settings().data_region == "ae"


def test_store_hosts_never_carry_credentials_even_from_odd_dsns() -> None:
    from gateway.views_platform import _store

    assert _store("postgresql", "postgresql://u:pw@db.internal:6432/majlis", 5432, "ae") == {
        "name": "postgresql",
        "host": "db.internal",
        "port": 6432,
        "region": "ae",
    }
    several = _store("postgresql", "postgresql://u:pw@h1:5432,h2:5433/db", 5432, "ae")
    assert several["host"] is None
    assert "pw" not in json.dumps(several)
