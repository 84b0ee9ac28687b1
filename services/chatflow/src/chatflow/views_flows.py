"""`/api/v1/flows`: create, list, get, update the draft, delete, publish, list versions.

Owners and admins edit; agents and viewers read. Every query runs in `caller_transaction`
(RLS): another tenant's flow is not found (404), exactly like an unknown id. A document is
validated on every save (all errors at once, with node ids); publishing snapshots the draft
as an immutable version (a database trigger refuses any UPDATE of a version).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

import orjson
from aiohttp import web
from pydantic import Field, StringConstraints

from chatflow import flows_repository as repo
from chatflow.flow_validation import check_addresses, parse_flow
from chatflow.response_models import FlowOut, FlowVersionOut, FlowVersionsOut
from chatflow.triggers import Trigger
from chatflow.web import ALL_ROLES, MANAGER_ROLES, audit, caller, path_id
from majlis.http import Page, ProblemError, RequestModel, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import DB_POOL
from majlis.net.egress import tenant_loopback_allowed
from majlis.plans import Limit, check_limit

PAGE_DEFAULT, PAGE_MAX = 25, 100


class FlowBody(RequestModel):
    """A flow's name, number (none: all numbers), priority, triggers and draft document."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    number_id: UUID | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    triggers: list[Trigger] = Field(default_factory=list, max_length=50)
    document: dict[str, Any]


def flow_json(row: Any) -> dict[str, Any]:
    """A flow as the API shows it."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "number_id": str(row["number_id"]) if row["number_id"] else None,
        "priority": row["priority"],
        "triggers": row["triggers"],
        "document": row["document"],
        "published_version_id": (
            str(row["published_version_id"]) if row["published_version_id"] else None
        ),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _not_found() -> ProblemError:
    return ProblemError(404, "Flow not found")


def _valid(request: web.Request, document: Any) -> None:
    """The document's checks (422 listing every error), its http_request addresses too."""
    allow_loopback = tenant_loopback_allowed(request.app[SETTINGS])
    check_addresses(parse_flow(document), allow_loopback=allow_loopback)


async def _checked(request: web.Request, conn: Any, body: FlowBody) -> list[Any]:
    _valid(request, body.document)
    if body.number_id is not None and not await repo.number_exists(conn, body.number_id):
        raise ProblemError(
            422,
            "The request body is not valid",
            errors=[{"field": "number_id", "message": "Unknown number", "code": "unknown"}],
        )
    return [t.model_dump(mode="json") for t in body.triggers]


@responds(FlowOut)
async def create_flow(request: web.Request) -> web.Response:
    """POST /api/v1/flows (owner, admin): store a validated draft."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, FlowBody)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        triggers = await _checked(request, conn, body)
        await check_limit(conn, identity.tenant_id, Limit.FLOWS)
        row = await repo.insert_flow(
            conn, identity.tenant_id, uuid4(), body.name, body.number_id, body.priority,
            triggers, body.document,
        )  # fmt: skip
        await audit(conn, request, "flows.created", row["id"], {"name": body.name})
    return web.json_response(flow_json(row), status=201, dumps=_dumps)


@responds(Page[FlowOut])
async def list_flows(request: web.Request) -> web.Response:
    """GET /api/v1/flows: newest first, keyset pages (`cursor`, `limit`)."""
    identity = await caller(request, ALL_ROLES)
    limit = _limit(request)
    before = _cursor(request.query.get("cursor"))
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        rows = await repo.flows_page(conn, before, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    cursor = _encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return web.json_response(
        {"items": [flow_json(r) for r in page], "next_cursor": cursor}, dumps=_dumps
    )


@responds(FlowOut)
async def get_flow(request: web.Request) -> web.Response:
    """GET /api/v1/flows/{flow_id}."""
    identity = await caller(request, ALL_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        row = await repo.flow(conn, flow_id)
    if row is None:
        raise _not_found()
    return web.json_response(flow_json(row), dumps=_dumps)


@responds(FlowOut)
async def update_flow(request: web.Request) -> web.Response:
    """PUT /api/v1/flows/{flow_id} (owner, admin): replace the draft and settings."""
    identity = await caller(request, MANAGER_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    body = await parse_json(request, FlowBody)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if await repo.flow(conn, flow_id, lock=True) is None:
            raise _not_found()
        triggers = await _checked(request, conn, body)
        row = await repo.update_flow(
            conn, flow_id, body.name, body.number_id, body.priority, triggers, body.document
        )
        await audit(conn, request, "flows.updated", flow_id, {"name": body.name})
    return web.json_response(flow_json(row), dumps=_dumps)


async def delete_flow(request: web.Request) -> web.Response:
    """DELETE /api/v1/flows/{flow_id} (owner, admin): with its versions, sessions and logs."""
    identity = await caller(request, MANAGER_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await repo.delete_flow(conn, flow_id):
            raise _not_found()
        await audit(conn, request, "flows.deleted", flow_id, {})
    return web.Response(status=204)


@responds(FlowVersionOut)
async def publish_flow(request: web.Request) -> web.Response:
    """POST /api/v1/flows/{flow_id}/publish (owner, admin): the draft becomes a new version."""
    identity = await caller(request, MANAGER_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        row = await repo.flow(conn, flow_id, lock=True)
        if row is None:
            raise _not_found()
        _valid(request, row["document"])
        user_id = identity.principal_id if identity.kind != "api_key" else None
        version = await repo.publish(conn, identity.tenant_id, flow_id, uuid4(), user_id)
        await audit(
            conn, request, "flows.published", flow_id,
            {"version": version["version"], "version_id": str(version["id"])},
        )  # fmt: skip
    body = {
        "id": str(version["id"]),
        "flow_id": str(flow_id),
        "version": version["version"],
        "created_at": version["created_at"].isoformat(),
    }
    return web.json_response(body, status=201)


@responds(FlowVersionsOut)
async def list_versions(request: web.Request) -> web.Response:
    """GET /api/v1/flows/{flow_id}/versions: newest first."""
    identity = await caller(request, ALL_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        if await repo.flow(conn, flow_id) is None:
            raise _not_found()
        rows = await repo.versions(conn, flow_id)
    items = [
        {
            "id": str(r["id"]),
            "version": r["version"],
            "document": r["document"],
            "published_by": str(r["published_by"]) if r["published_by"] else None,
            "created_at": r["created_at"].isoformat(),
        }
        for r in rows
    ]
    return web.json_response({"items": items}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(PAGE_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise ProblemError(400, f"limit must be 1..{PAGE_MAX}", slug="bad-limit")
    return int(raw)


def _encode_cursor(moment: datetime, row_id: UUID) -> str:
    raw = orjson.dumps([moment.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(raw: str | None) -> tuple[datetime, UUID] | None:
    """A keyset cursor from `_encode_cursor`; 400 for anything else."""
    if raw is None:
        return None
    try:
        moment, row_id = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return datetime.fromisoformat(moment), UUID(row_id)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ProblemError(400, "Bad cursor", slug="bad-cursor") from None


def add_routes(app: web.Application) -> None:
    """Mount the flow endpoints."""
    app.router.add_post("/api/v1/flows", create_flow)
    app.router.add_get("/api/v1/flows", list_flows)
    app.router.add_get("/api/v1/flows/{flow_id}", get_flow)
    app.router.add_put("/api/v1/flows/{flow_id}", update_flow)
    app.router.add_delete("/api/v1/flows/{flow_id}", delete_flow)
    app.router.add_post("/api/v1/flows/{flow_id}/publish", publish_flow)
    app.router.add_get("/api/v1/flows/{flow_id}/versions", list_versions)
