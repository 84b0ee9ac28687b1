"""Examples in the served OpenAPI document: every JSON body and every 2xx JSON answer that has a
schema has an example (hand-written in gateway.openapi_examples, else synthesized from the
schema), and every example is valid against its schema (JSON Schema 2020-12, formats checked).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from majlis.testing.browser import GatewayUnderTest

_METHODS = ("get", "post", "put", "patch", "delete")


def _json_contents(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, content) of every application/json request body and 2xx answer."""
    for path, item in document["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                yield f"{method.upper()} {path} request", body
            for code, answer in op["responses"].items():
                content = answer.get("content", {}).get("application/json")
                if code.startswith("2") and content is not None:
                    yield f"{method.upper()} {path} {code}", content


def _errors(document: dict[str, Any], schema: dict[str, Any], example: Any) -> list[str]:
    root = {"$ref": "#/$defs/it", "$defs": {"it": schema}, "components": document["components"]}
    validator = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example)]


async def test_every_json_body_and_answer_with_a_schema_has_a_valid_example(
    gateway: GatewayUnderTest,
) -> None:
    status, document, _ = await gateway.browser().request("GET", "/api/v1/openapi.json")
    assert status == 200
    missing, invalid, checked = [], [], 0
    for where, content in _json_contents(document):
        if "schema" not in content:
            continue  # no schema (a forwarded family's generic answer): nothing to make one from
        if "example" not in content:
            missing.append(where)
            continue
        errors = _errors(document, content["schema"], content["example"])
        if errors:
            invalid.append(f"{where}: {errors}")
        checked += 1
    assert not missing, missing
    assert not invalid, "\n".join(invalid)
    assert checked >= 50  # every request body the gateway and the back ends take


async def test_hand_written_examples_win_and_every_request_gets_the_same_document(
    gateway: GatewayUnderTest,
) -> None:
    from gateway.openapi_examples import ROUTE_EXAMPLES

    browser = gateway.browser()
    _, document, _ = await browser.request("GET", "/api/v1/openapi.json")
    _, again, _ = await browser.request("GET", "/api/v1/openapi.json")
    assert again == document  # deterministic: no random or clock-made values
    paths = document["paths"]
    for (method, path), example in ROUTE_EXAMPLES.items():
        if "request" in example:
            body = paths[path][method.lower()]["requestBody"]["content"]["application/json"]
            assert body["example"] == example["request"], (method, path)
    # Synthesized where no one wrote one: the schema's enum, formats and the fields' names.
    tags = paths["/api/v1/contacts/{contact_id}/tags"]["put"]["requestBody"]
    assert tags["content"]["application/json"]["example"] == {"tags": ["vip"]}
    reply = paths["/api/v1/conversations/{conversation_id}/messages"]["post"]["requestBody"]
    text = reply["content"]["application/json"]["example"]
    assert text["type"] == "text"
    assert text["text"]
