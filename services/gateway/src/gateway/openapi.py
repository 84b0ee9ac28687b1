"""The public OpenAPI 3.1 document, generated from the same route table the router uses."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.proxy import PROXY_TABLE
from gateway.routes import SPECS, RouteSpec, route

_PARAM = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


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
    if spec.body is not None:
        name = spec.body.__name__
        schemas[name] = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    if spec.auth == "public":
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}] + ([{"apiKey": [spec.scope]}] if spec.scope else [])
        op["x-majlis-roles"] = sorted(spec.roles)
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
    return op


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
    for resource, (service, _family) in sorted(PROXY_TABLE.items()):
        paths[f"/api/v1/{resource}/{{rest}}"] = {
            "x-majlis-proxy": {"service": service},
            "summary": f"Forwarded to the {service} service (documented with it)",
            "parameters": [
                {"name": "rest", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Majlis API",
            "version": "1",
            "description": "Errors are RFC 9457 problem details. Unknown request fields "
            "are rejected. Browser sessions send X-CSRF-Token on changes.",
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
    return web.json_response(build_document())
