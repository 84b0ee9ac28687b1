"""The public OpenAPI 3.1 document, generated from the same route table the router uses."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

from aiohttp import web

from gateway.openapi_examples import ROUTE_EXAMPLES
from gateway.proxy import PROXY_TABLE, proxy_scope
from gateway.routes import SPECS, RouteSpec, route
from gateway.schema_examples import Unsupported, example_of
from majlis.http.responses import add_schema
from majlis.openapi_backends import load_fragment

_PARAM = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_PROXY_METHODS = ("get", "post", "put", "patch", "delete")
_PEOPLE_ONLY = (
    "People only: an API key is refused here (403). Sign-in, sessions, the team, numbers "
    "and API keys themselves are managed by a signed-in owner or admin, never by a key."
)


def _problem(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _add_examples(op: dict[str, Any], example: dict[str, Any] | None) -> None:
    if not example:
        return
    if "request" in example:
        body = op.setdefault("requestBody", {"required": True, "content": {"application/json": {}}})
        body["content"]["application/json"]["example"] = example["request"]
    if "response" in example:
        responses = op["responses"]
        code = next((c for c in sorted(responses) if c.startswith("2")), "200")
        answer = responses.setdefault(code, {"description": "OK"})
        answer.setdefault("content", {"application/json": {}})
        answer["content"].setdefault("application/json", {})["example"] = example["response"]


def _synthesize_examples(paths: dict[str, dict[str, Any]], schemas: dict[str, Any]) -> None:
    """An example, made from its schema, for every JSON request body and 2xx JSON answer that
    has a schema but no example yet (the hand-written ROUTE_EXAMPLES are applied first)."""
    for item in paths.values():
        for method in _PROXY_METHODS:
            op = item.get(method)
            if op is None:
                continue
            contents = [op.get("requestBody", {}).get("content", {}).get("application/json")]
            contents += [
                answer.get("content", {}).get("application/json")
                for code, answer in op["responses"].items()
                if code.startswith("2")
            ]
            for content in contents:
                if content is None or "schema" not in content or "example" in content:
                    continue
                try:
                    content["example"] = example_of(content["schema"], schemas)
                except Unsupported:
                    continue  # the test of every operation's examples names it


def _operation(spec: RouteSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": spec.handler.__name__,
        "tags": [spec.tag],
        "responses": {
            str(code): (
                {"description": text}
                if code < 400
                else {
                    "description": text,
                    "content": {"application/problem+json": {"schema": _PROBLEM}},
                }
            )
            for code, text in (spec.responses or {200: "OK"}).items()
        },
    }
    params = _PARAM.findall(spec.path)
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if spec.response is not None:
        ref = add_schema(spec.response, schemas)
        for code, answer in op["responses"].items():
            if code.startswith("2") and code != "204":
                answer["content"] = {"application/json": {"schema": ref}}
    if spec.body is not None:
        name = spec.body.__name__
        schemas[name] = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    if spec.auth == "public":
        op["security"] = []
        op["x-majlis-api-key"] = "not needed: a public endpoint"
    else:
        op["security"] = [{"bearer": []}] + ([{"apiKey": [spec.scope]}] if spec.scope else [])
        op["x-majlis-roles"] = sorted(spec.roles)
        if spec.scope is None or spec.auth != "any":
            op["x-majlis-api-key"] = _PEOPLE_ONLY
            op["responses"].setdefault("403", _problem("Not allowed for this role or API keys"))
        op["responses"].setdefault(
            "401",
            {
                "description": "Not authenticated",
                "content": {"application/problem+json": {"schema": _PROBLEM}},
            },
        )
    if spec.method in ("POST", "PUT", "PATCH", "DELETE") and spec.auth != "public" and spec.csrf:
        op["x-majlis-csrf"] = "X-CSRF-Token header required for browser sessions"
    for code, text in _common_problems(spec, bool(params)):
        op["responses"].setdefault(
            str(code),
            {"description": text, "content": {"application/problem+json": {"schema": _PROBLEM}}},
        )
    _add_examples(op, ROUTE_EXAMPLES.get((spec.method, spec.path)))
    return op


def _proxy_item(resource: str, service: str, family: str) -> dict[str, Any]:
    """The forwarded calls of one resource family, one operation per method with its scope."""
    item: dict[str, Any] = {
        "x-majlis-proxy": {"service": service},
        "summary": f"Forwarded to the {service} service",
        "parameters": [
            {
                "name": "rest",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The rest of the path, e.g. an id and a sub-resource",
            }
        ],
    }
    for method in _PROXY_METHODS:
        scope = proxy_scope(family, method.upper())
        op: dict[str, Any] = {
            "summary": f"{method.upper()} /api/v1/{resource}/... ({service})",
            "operationId": f"{method}_{resource.replace('-', '_')}",
            "tags": [resource],
            "security": [{"bearer": []}, {"apiKey": [scope]}],
            "x-majlis-api-key": _key_note(scope),
            # A family forwards every path under it: these are the answers any of its
            # routes may give (the service documents each route's own in its module).
            "responses": {
                "200": {"description": "The service's answer"},
                "201": {"description": "Created"},
                "202": {"description": "Accepted (work continues in the background)"},
                "204": {"description": "Done; no content"},
                "400": _problem("A query parameter is not valid"),
                "401": _problem("Not authenticated, or a revoked or unknown API key"),
                "403": _problem("The role or the API key's scope does not allow this"),
                "404": _problem("Not found (another tenant's ids answer the same)"),
                "405": _problem("This path does not take this method"),
                "409": _problem("The state does not allow this now (e.g. already done)"),
                "410": _problem("Gone (expired)"),
                "412": _problem("The If-Match version is not the current one"),
                "413": _problem("The body is too large"),
                "415": _problem("The body is not application/json"),
                "422": _problem("The body or a parameter is not valid"),
                "428": _problem("This change needs an If-Match header"),
                "429": _problem("Rate limited (Retry-After says when to retry)"),
            },
        }
        _add_examples(op, ROUTE_EXAMPLES.get((method.upper(), f"/api/v1/{resource}")))
        item[method] = op
    return item


def _key_note(scope: str) -> str:
    return f"accepted with the {scope!r} scope; CSRF-exempt; rate-limited per key"


def _backend_item(path: str, item: dict[str, Any], family: str) -> dict[str, Any]:
    """A back end's documented route (from the generated fragment), with what the edge adds:
    the API-key scope, and the problems the edge itself may answer before forwarding."""
    documented = copy.deepcopy(item)
    for method in _PROXY_METHODS:
        op = documented.get(method)
        if op is None:
            continue
        scope = proxy_scope(family, method.upper())
        op["security"] = [{"bearer": []}, {"apiKey": [scope]}]
        op["x-majlis-api-key"] = _key_note(scope)
        if method != "get":
            op["x-majlis-csrf"] = "X-CSRF-Token header required for browser sessions"
        responses = op["responses"]
        for code, text in (
            ("401", "Not authenticated, or a revoked or unknown API key"),
            ("403", "The role or the API key's scope does not allow this"),
            ("429", "Rate limited (Retry-After says when to retry)"),
        ):
            responses.setdefault(code, _problem(text))
        _add_examples(op, ROUTE_EXAMPLES.get((method.upper(), path)))
    return documented


@cache
def _backends() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The forwarded routes the back ends serve (their committed fragment), by path, and the
    schemas of their bodies; only paths of a family the proxy forwards to that service."""
    fragment = load_fragment()
    paths: dict[str, dict[str, Any]] = {}
    for path, item in fragment["paths"].items():
        entry = PROXY_TABLE.get(path.split("/")[3])
        if entry is None or entry[0] != item["x-majlis-proxy"]["service"]:
            continue  # not reachable through the gateway
        paths[path] = _backend_item(path, item, entry[1])
    return paths, fragment["schemas"]


def _common_problems(spec: RouteSpec, has_params: bool) -> list[tuple[int, str]]:
    """The problems the edge itself may answer for a route, whatever its handler does."""
    problems = []
    if spec.body is not None:
        # The request-model helpers: too large (413), not application/json (415), not JSON
        # or fields missing, unknown or invalid (422).
        problems += [
            (413, "The body is too large"),
            (415, "The body is not application/json"),
            (422, "The body is not valid"),
        ]
    if spec.auth != "public":
        problems.append((403, "The caller's role may not do this, or the CSRF token is missing"))
    if has_params:
        problems.append((404, "Not found (another tenant's ids are not found either)"))
    problems.append((429, "Rate limited"))
    return problems


def build_document(specs: list[RouteSpec] | None = None) -> dict[str, Any]:
    """Every public route of the gateway and the resource families it forwards."""
    schemas: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
            },
        }
    }
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs if specs is not None else SPECS:
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", spec.path)
        paths.setdefault(path, {})[spec.method.lower()] = _operation(spec, schemas)
    backend_paths, backend_schemas = _backends()
    for name, schema in backend_schemas.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two models share the schema name {name}")
    served = {path.split("/")[3] for path in backend_paths}
    paths.update(copy.deepcopy(backend_paths))
    for resource, (service, family) in sorted(PROXY_TABLE.items()):
        if resource not in served:  # forwarded, but no back end documents a route there yet
            paths[f"/api/v1/{resource}/{{rest}}"] = _proxy_item(resource, service, family)
    _synthesize_examples(paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Majlis API",
            "version": "1",
            "description": "Errors are RFC 9457 problem details. Unknown request fields "
            "are rejected. Browser sessions send X-CSRF-Token on changes. API keys "
            "(Authorization: Bearer mjk_...) need no CSRF token, are limited per key "
            "(MAJLIS_API_KEY_RATE_LIMIT_PER_MINUTE) and may call the operations whose "
            "security lists their scope; routes marked x-majlis-api-key 'People only' refuse "
            "them. Forwarded routes (x-majlis-proxy) are answered by the owning service; "
            "their bodies, parameters and answers come from that service's code "
            "(majlis openapi-backends).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Tenant API key (mjk_...) with scopes",
                },
            },
        },
    }


OPENAPI_PATH = "/api/v1/openapi.json"


@route(
    "GET",
    OPENAPI_PATH,
    "This document",
    auth="public",
    rate="public",
    tag="meta",
    responses={200: "OpenAPI 3.1 document"},
)
async def openapi(request: web.Request) -> web.Response:
    """Serve the generated document."""
    return web.Response(text=_served_document(), content_type="application/json")


@cache
def _served_document() -> str:
    """The document as served, built once: the route table is complete once the views are
    imported, and the fragment is a file committed with the code."""
    return json.dumps(build_document())
