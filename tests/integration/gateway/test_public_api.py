"""The public API with tenant API keys: every operation of the served OpenAPI document
respects scopes, keys stay inside their tenant, revoked keys are refused, each key has its own
rate limit, and the audit log answers keys through the plan check."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from gateway.apikeys import SCOPES, grants
from gateway.proxy import PROXY_TABLE
from majlis.plans import set_plan
from majlis.settings import Settings
from majlis.testing.browser import Browser, GatewayUnderTest

_PARAM = re.compile(r"\{[a-z_]+\}")
_METHODS = ("get", "post", "put", "patch", "delete")


def _slug(body: Any) -> str:
    return str(body.get("type", "")).rsplit("/", 1)[-1] if isinstance(body, dict) else ""


async def _key(gateway: GatewayUnderTest, owner: Browser, scopes: list[str]) -> Browser:
    status, body, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "integration", "scopes": scopes}
    )
    assert status == 201, body
    client = gateway.browser()
    client.token = body["key"]
    return client


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in document["paths"].items():
        concrete = _PARAM.sub(str(uuid.uuid4()), path)
        for method in _METHODS:
            if method in item:
                ops.append((method.upper(), concrete, item[method]))
    return ops


def _scope_of(op: dict[str, Any]) -> str | None:
    for requirement in op.get("security", []):
        if "apiKey" in requirement:
            (scope,) = requirement["apiKey"]
            return str(scope)
    return None


async def test_every_documented_operation_respects_api_key_scopes(
    gateway: GatewayUnderTest, db_pool: Any
) -> None:
    owner, _, tenant_id = await gateway.owner()
    await set_plan(db_pool, tenant_id, "business")  # room for a key per scope
    status, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    assert status == 200
    operations = _operations(document)
    scoped = {s for _, _, op in operations if (s := _scope_of(op))}
    assert scoped <= SCOPES
    assert {"contacts:write", "messages:send", "audit:read"} <= scoped
    everything = await _key(gateway, owner, sorted(SCOPES))
    having = {s: await _key(gateway, owner, [s]) for s in sorted(scoped)}
    lacking = {  # every scope but those granting s (webhooks:manage grants webhooks:read)
        s: await _key(gateway, owner, sorted(o for o in SCOPES if not grants({o}, s)))
        for s in sorted(scoped)
    }
    checked = 0
    for method, path, op in operations:
        if op.get("security") == []:
            continue  # public: no credential involved
        body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
        scope = _scope_of(op)
        if scope is None:
            # People only: even a key holding every scope is refused, and the document says so.
            assert "People only" in op["x-majlis-api-key"], path
            status, answer, _ = await everything.request(method, path, json=body)
            assert (status, _slug(answer)) == (403, "forbidden"), (method, path, answer)
            continue
        status, answer, _ = await lacking[scope].request(method, path, json=body)
        assert (status, _slug(answer)) == (403, "insufficient-scope"), (method, path)
        assert answer["required_scope"] == scope
        # With the scope (and no CSRF token), nothing refuses it for scope, role or CSRF
        # reasons: a forwarded family reaches its back end (not running here: 502), a
        # gateway-own route answers itself.
        status, answer, _ = await having[scope].request(method, path, json=body)
        assert status != 403, (method, path, answer)
        if path.split("/")[3] in PROXY_TABLE:
            assert status in (502, 504), (method, path, status)
        else:
            assert status < 500, (method, path, status)
        checked += 1
    assert checked >= 5 * 18  # every method of every forwarded family


async def test_documented_examples_and_key_notes(gateway: GatewayUnderTest) -> None:
    _, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["example"]["email"]
    create_key = document["paths"]["/api/v1/api-keys"]["post"]
    assert create_key["responses"]["201"]["content"]["application/json"]["example"]["key"]
    assert "People only" in create_key["x-majlis-api-key"]
    contacts = document["paths"]["/api/v1/contacts/{contact_id}"]
    assert contacts["get"]["security"][1] == {"apiKey": ["contacts:read"]}
    assert contacts["delete"]["security"][1] == {"apiKey": ["contacts:write"]}


async def test_revoked_key_is_refused_with_401(gateway: GatewayUnderTest) -> None:
    owner, _, _ = await gateway.owner()
    status, created, _ = await owner.request(
        "POST", "/api/v1/api-keys", json={"name": "old", "scopes": ["contacts:read"]}
    )
    assert status == 201
    client = gateway.browser()
    client.token = created["key"]
    assert (await client.request("GET", "/api/v1/contacts/x"))[0] in (502, 504)
    assert (await owner.request("DELETE", f"/api/v1/api-keys/{created['id']}"))[0] == 204
    status, body, _ = await client.request("GET", "/api/v1/contacts/x")
    assert status == 401, body
    assert body["status"] == 401


async def test_each_key_has_its_own_limit_with_retry_after(
    gateway_factory: Callable[..., Awaitable[GatewayUnderTest]],
) -> None:
    limited = await gateway_factory(api_key_rate_limit_per_minute=3)
    owner, _, _ = await limited.owner()
    first = await _key(limited, owner, ["contacts:read"])
    second = await _key(limited, owner, ["contacts:read"])
    for _ in range(3):
        assert (await first.request("GET", "/api/v1/contacts/x"))[0] in (502, 504)
    status, body, response = await first.request("GET", "/api/v1/contacts/x")
    assert (status, _slug(body)) == (429, "rate-limited")
    assert int(response.headers["Retry-After"]) > 0
    # Another key of the same tenant, and the people, keep their own budgets.
    assert (await second.request("GET", "/api/v1/contacts/x"))[0] in (502, 504)
    assert (await owner.request("GET", "/api/v1/me"))[0] == 200


@pytest.fixture
async def inbox_url(settings: Settings, graph_simulator: str) -> AsyncIterator[str]:
    """The inbox in-process (its HTTP API only)."""
    from inbox.app import create_app as create_inbox

    app = create_inbox(settings.model_copy(update={"graph_api_url": graph_simulator}))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_a_key_cannot_reach_another_tenants_objects(
    gateway_factory: Callable[..., Awaitable[GatewayUnderTest]], inbox_url: str
) -> None:
    world = await gateway_factory(inbox_url=inbox_url)
    owner_a, _, _ = await world.owner()
    owner_b, _, _ = await world.owner()
    key_a = await _key(world, owner_a, ["contacts:read", "contacts:write"])
    status, mine, _ = await key_a.request(
        "POST", "/api/v1/contacts", json={"phone": "+971501112233", "name": "Mine"}
    )
    assert status == 201, mine
    status, theirs, _ = await owner_b.request(
        "POST", "/api/v1/contacts", json={"phone": "+971504445566", "name": "Theirs"}
    )
    assert status == 201, theirs
    assert (await key_a.request("GET", f"/api/v1/contacts/{mine['id']}"))[0] == 200
    status, body, _ = await key_a.request("GET", f"/api/v1/contacts/{theirs['id']}")
    assert status == 404, body
    status, body, _ = await key_a.request(
        "PATCH", f"/api/v1/contacts/{theirs['id']}", json={"name": "Taken over"}
    )
    assert status == 404, body
    _, listing, _ = await key_a.request("GET", "/api/v1/contacts")
    assert [item["id"] for item in listing["items"]] == [mine["id"]]


async def test_keys_act_as_admin_only_where_the_readme_says_by_scope(
    gateway_factory: Callable[..., Awaitable[GatewayUnderTest]], inbox_url: str
) -> None:
    world = await gateway_factory(inbox_url=inbox_url)
    owner, _, _ = await world.owner()
    key = await _key(world, owner, ["conversations:write", "contacts:read", "contacts:write"])
    status, label, _ = await key.request("POST", "/api/v1/labels", json={"name": "VIP"})
    assert status == 201, label  # a tenant-wide setting: by scope
    status, team, _ = await key.request("POST", "/api/v1/teams", json={"name": "Sales"})
    assert status == 201, team  # teams too
    status, contact, _ = await key.request(
        "POST", "/api/v1/contacts", json={"phone": "+971507778899"}
    )
    assert status == 201, contact
    # Deleting a contact and exporting contacts stay with people.
    status, body, _ = await key.request("DELETE", f"/api/v1/contacts/{contact['id']}")
    assert status == 403, body
    status, body, _ = await key.request("GET", "/api/v1/contacts/export.csv")
    assert status == 403, body


async def test_audit_log_with_a_key_follows_the_plan(
    gateway_factory: Callable[..., Awaitable[GatewayUnderTest]],
    audit_url: str,
    db_pool: Any,
) -> None:
    world = await gateway_factory(audit_url=audit_url)
    owner, _, tenant_id = await world.owner()
    reader = await _key(world, owner, ["audit:read"])
    status, body, _ = await reader.request("GET", "/api/v1/audit/events")
    assert (status, _slug(body)) == (403, "business-plan-required"), body
    assert body["feature"] == "audit_log"
    await set_plan(db_pool, tenant_id, "business")
    status, body, _ = await reader.request("GET", "/api/v1/audit/events")
    assert status == 200, body
    other = await _key(world, owner, ["contacts:read"])
    status, body, _ = await other.request("GET", "/api/v1/audit/events")
    assert (status, _slug(body)) == (403, "insufficient-scope")
