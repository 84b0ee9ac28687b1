"""The back ends' routes in the served OpenAPI document, from the committed generated fragment.

The fragment (shared/src/majlis/openapi_backends.json, written by `majlis openapi-backends`)
must match what the generator reads from the services' code now, and every API route any back
end registers must be in the document the gateway serves, with its body, parameters and answers.
"""

from __future__ import annotations

from typing import Any

from gateway.proxy import PROXY_TABLE
from majlis.openapi_backends import (
    build_fragment,
    dumps,
    fragment_path,
    routes_of,
    service_apps,
)
from majlis.settings import Settings
from majlis.testing.browser import GatewayUnderTest


def test_the_committed_fragment_is_what_the_code_says_now(settings: Settings) -> None:
    fresh = dumps(build_fragment(service_apps(settings)))
    committed = fragment_path().read_text(encoding="utf-8")
    assert committed == fresh, "stale: run `majlis openapi-backends` and commit the result"


async def test_every_back_end_route_is_in_the_served_document(
    settings: Settings, gateway: GatewayUnderTest
) -> None:
    status, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    assert status == 200
    registered = 0
    for service, app in service_apps(settings):
        for method, path, _handler in routes_of(app):
            resource = path.split("/")[3]
            # Reachable: the gateway forwards its family to this very service ...
            assert PROXY_TABLE[resource][0] == service, (service, method, path)
            # ... and documented, as forwarded to it.
            item = document["paths"].get(path)
            assert item is not None, (service, path)
            assert item["x-majlis-proxy"] == {"service": service}
            op = item[method.lower()]
            assert op["operationId"].startswith(f"{service}_"), path
            assert {"401", "403"} <= set(op["responses"]), path
            assert any(code.startswith("2") for code in op["responses"]), path
            registered += 1
    assert registered >= 100


async def test_bodies_parameters_and_answers_come_from_the_services_code(
    gateway: GatewayUnderTest,
) -> None:
    _, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    paths, schemas = document["paths"], document["components"]["schemas"]

    def body_schema(op: dict[str, Any]) -> dict[str, Any]:
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema: dict[str, Any] = schemas[ref.rsplit("/", 1)[1]]
        return schema

    create = paths["/api/v1/webhooks"]["post"]
    endpoint = body_schema(create)
    assert endpoint["additionalProperties"] is False
    assert set(endpoint["required"]) == {"url", "event_types"}
    assert endpoint["properties"]["url"]["maxLength"] == 2048
    assert set(create["responses"]) >= {"201", "401", "403", "413", "415", "422", "429"}
    assert create["security"][1] == {"apiKey": ["webhooks:write"]}
    assert create["responses"]["422"]["content"]["application/problem+json"]

    one = paths["/api/v1/webhooks/{endpoint_id}"]
    assert [p["name"] for p in one["get"]["parameters"]] == ["endpoint_id"]
    assert one["get"]["security"][1] == {"apiKey": ["webhooks:read"]}
    assert "404" in one["get"]["responses"]
    assert "204" in one["delete"]["responses"]
    # The optional body of a rotation (defaults apply without one).
    rotate = paths["/api/v1/webhooks/{endpoint_id}/rotate-secret"]["post"]
    assert rotate["requestBody"]["required"] is False

    listing = paths["/api/v1/contacts"]["get"]
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} >= {
        "q", "tag", "cursor", "limit", "deleted",
    }  # fmt: skip
    assert listing["responses"]["200"]["content"]["application/json"]["example"]["items"]
    reply = paths["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert {"200", "201"} <= set(reply["responses"])  # 200: an Idempotency-Key replayed
    assert {"name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string"}} in reply["parameters"]  # fmt: skip
    union = body_schema(reply)
    assert union["discriminator"]["propertyName"] == "type"
    assert paths["/api/v1/contacts/import"]["post"]["requestBody"]["content"] == {
        "text/csv": {"schema": {"type": "string"}}
    }
    audit = paths["/api/v1/audit/events"]["get"]
    assert {p["name"] for p in audit["parameters"]} >= {"from", "to", "action", "limit"}
    assert audit["security"][1] == {"apiKey": ["audit:read"]}
    # Families no back end documents a route of yet keep the generic forwarded entry.
    assert "x-majlis-proxy" in paths["/api/v1/messages/{rest}"]


async def test_every_example_names_a_documented_operation(gateway: GatewayUnderTest) -> None:
    from gateway.openapi_examples import ROUTE_EXAMPLES

    _, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    for method, path in ROUTE_EXAMPLES:
        op = document["paths"][path][method.lower()]
        example = ROUTE_EXAMPLES[(method, path)]
        if "request" in example:
            assert op["requestBody"]["content"]["application/json"]["example"]
        if "response" in example:
            success = next(c for c in sorted(op["responses"]) if c.startswith("2"))
            assert op["responses"][success]["content"]["application/json"]["example"]
    webhook = document["paths"]["/api/v1/webhooks"]["post"]
    assert webhook["responses"]["201"]["content"]["application/json"]["example"]["secret"]
