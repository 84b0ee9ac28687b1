"""Labels (list for everyone; create, edit, delete for owners and admins) and per-number
assignment policies (owners and admins)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import Field, field_validator

from inbox import assignment
from inbox import labels as repo
from inbox.response_models import AssignmentPolicyOut, LabelOut
from inbox.web import MANAGER_ROLES, audit, caller, path_id
from majlis.http import Page, ProblemError, RequestModel, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not 1 <= len(name) <= 64:
        raise ValueError("must be 1 to 64 characters")
    return name


def _color(value: str) -> str:
    if not repo.COLOR.fullmatch(value):
        raise ValueError("must be a colour like #1a2b3c")
    return value.lower()


class LabelCreate(RequestModel):
    """`POST /api/v1/labels`."""

    name: str = Field(max_length=200)
    color: str = repo.DEFAULT_COLOR

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("color")
    @classmethod
    def _clean_color(cls, value: str) -> str:
        return _color(value)


class LabelUpdate(RequestModel):
    """`PATCH /api/v1/labels/{id}`: what changes."""

    name: str | None = Field(default=None, max_length=200)
    color: str | None = None

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)

    @field_validator("color")
    @classmethod
    def _clean_color(cls, value: str | None) -> str | None:
        return None if value is None else _color(value)


class PolicyBody(RequestModel):
    """`PUT /api/v1/assignment-policies/{number_id}`."""

    mode: Literal["manual", "round_robin", "balanced"]
    agent_capacity: int | None = Field(default=None, ge=1, le=10000)


def _duplicate() -> ProblemError:
    return ProblemError(409, "A label with this name exists", slug="label-exists")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


@responds(Page[LabelOut])
async def list_labels(request: web.Request) -> web.Response:
    """`GET /api/v1/labels`: every label of the team."""
    identity = await caller(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        rows = await repo.list_labels(conn)
    return _json({"items": [repo.label_json(r) for r in rows], "next_cursor": None})


@responds(LabelOut)
async def create_label(request: web.Request) -> web.Response:
    """`POST /api/v1/labels` {"name", "color"}: 201, or 409 for a taken name."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, LabelCreate)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if await repo.label_count(conn) >= repo.MAX_LABELS:
            raise ProblemError(409, "This team has too many labels", slug="too-many-labels")
        try:
            row = await repo.create_label(conn, identity.tenant_id, uuid4(), body.name, body.color)
        except repo.DuplicateLabel:
            raise _duplicate() from None
        await audit(conn, request, "label.created", target_type="label", target_id=row["id"])
    return _json(repo.label_json(row), status=201)


@responds(LabelOut)
async def update_label(request: web.Request) -> web.Response:
    """`PATCH /api/v1/labels/{id}`."""
    identity = await caller(request, MANAGER_ROLES)
    label_id = path_id(request, "label_id", "Label")
    body = await parse_json(request, LabelUpdate)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        try:
            row = await repo.update_label(conn, label_id, body.name, body.color)
        except repo.DuplicateLabel:
            raise _duplicate() from None
        if row is None:
            raise ProblemError(404, "Label not found")
        changes = [k for k in ("name", "color") if getattr(body, k) is not None]
        await audit(
            conn, request, "label.updated", target_type="label", target_id=label_id, changes=changes
        )
    return _json(repo.label_json(row))


async def delete_label(request: web.Request) -> web.Response:
    """`DELETE /api/v1/labels/{id}`: also removes it from conversations."""
    identity = await caller(request, MANAGER_ROLES)
    label_id = path_id(request, "label_id", "Label")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await repo.delete_label(conn, label_id):
            raise ProblemError(404, "Label not found")
        await audit(conn, request, "label.deleted", target_type="label", target_id=label_id)
    return web.Response(status=204)


async def _number(request: web.Request) -> UUID:
    return path_id(request, "number_id", "Number")


@responds(AssignmentPolicyOut)
async def get_policy(request: web.Request) -> web.Response:
    """`GET /api/v1/assignment-policies/{number_id}` (manual when none is set)."""
    identity = await caller(request, MANAGER_ROLES)
    number_id = await _number(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        if not await assignment.number_exists(conn, number_id):
            raise ProblemError(404, "Number not found")
        policy = await assignment.policy_for(conn, number_id)
    return _json(assignment.policy_json(number_id, policy))


@responds(AssignmentPolicyOut)
async def put_policy(request: web.Request) -> web.Response:
    """`PUT /api/v1/assignment-policies/{number_id}` {"mode", "agent_capacity"}."""
    identity = await caller(request, MANAGER_ROLES)
    number_id = await _number(request)
    body = await parse_json(request, PolicyBody)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await assignment.number_exists(conn, number_id):
            raise ProblemError(404, "Number not found")
        saved = await assignment.save_policy(
            conn,
            identity.tenant_id,
            number_id,
            assignment.Policy(body.mode, body.agent_capacity),
        )
        await audit(
            conn,
            request,
            "assignment_policy.updated",
            target_type="whatsapp_number",
            target_id=number_id,
            details={"mode": saved.mode, "agent_capacity": saved.agent_capacity},
            changes=["mode", "agent_capacity"],
        )
    return _json(assignment.policy_json(number_id, saved))


def add_routes(app: web.Application) -> None:
    """Mount the label and assignment-policy routes."""
    app.router.add_get("/api/v1/labels", list_labels)
    app.router.add_post("/api/v1/labels", create_label)
    app.router.add_patch("/api/v1/labels/{label_id}", update_label)
    app.router.add_delete("/api/v1/labels/{label_id}", delete_label)
    app.router.add_get("/api/v1/assignment-policies/{number_id}", get_policy)
    app.router.add_put("/api/v1/assignment-policies/{number_id}", put_policy)
