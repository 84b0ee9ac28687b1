"""Teams (`/api/v1/teams`): everyone of the tenant reads them; owners and admins create,
rename, describe and delete them and add or remove members.

A member is an active owner, admin or agent of the tenant. Deleting a team takes its
conversations out of it (they stay open, with their assignee) and says so per conversation
with a `ConversationUpdated` event. Another tenant's team or user is not found, like an
unknown one.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import Field, field_validator

from inbox import conversations_repository as conversations_repo
from inbox import teams as repo
from inbox.conversations import updated_event
from inbox.response_models import TeamOut
from inbox.web import MANAGER_ROLES, audit, caller, emit, path_id
from majlis.http import Page, ProblemError, RequestModel, json_response, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL

MAX_DESCRIPTION = 500


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not 1 <= len(name) <= 64:
        raise ValueError("must be 1 to 64 characters")
    return name


def _description(value: str) -> str:
    text = value.strip()
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"must be at most {MAX_DESCRIPTION} characters")
    if any(not ch.isprintable() and ch not in "\n\t" for ch in text):
        raise ValueError("must not hold control characters")
    return text


class TeamCreate(RequestModel):
    """`POST /api/v1/teams`."""

    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("description")
    @classmethod
    def _clean_description(cls, value: str) -> str:
        return _description(value)


class TeamUpdate(RequestModel):
    """`PATCH /api/v1/teams/{id}`: what changes."""

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)

    @field_validator("description")
    @classmethod
    def _clean_description(cls, value: str | None) -> str | None:
        return None if value is None else _description(value)


class MemberAdd(RequestModel):
    """`POST /api/v1/teams/{id}/members`."""

    user_id: UUID


def _not_found() -> ProblemError:
    return ProblemError(404, "Team not found")


def _duplicate() -> ProblemError:
    return ProblemError(409, "A team with this name exists", slug="team-exists")


def _json(data: Any, status: int = 200) -> web.Response:
    return json_response(data, status=status)


@responds(Page[TeamOut])
async def list_teams(request: web.Request) -> web.Response:
    """`GET /api/v1/teams`: every team of the tenant, with its members' user ids."""
    identity = await caller(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        rows = await repo.list_teams(conn)
    return _json({"items": [repo.team_json(r) for r in rows], "next_cursor": None})


@responds(TeamOut)
async def get_team(request: web.Request) -> web.Response:
    """`GET /api/v1/teams/{id}`."""
    identity = await caller(request)
    team_id = path_id(request, "team_id", "Team")
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        row = await repo.get_team(conn, team_id)
    if row is None:
        raise _not_found()
    return _json(repo.team_json(row))


@responds(TeamOut)
async def create_team(request: web.Request) -> web.Response:
    """`POST /api/v1/teams` {"name", "description"}: 201, or 409 for a taken name."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, TeamCreate)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if await repo.team_count(conn) >= repo.MAX_TEAMS:
            raise ProblemError(
                409,
                "This tenant has too many teams",
                slug="too-many-teams",
                detail=f"A tenant has at most {repo.MAX_TEAMS} teams.",
            )
        try:
            row = await repo.create_team(
                conn, identity.tenant_id, uuid4(), body.name, body.description
            )
        except repo.DuplicateTeam:
            raise _duplicate() from None
        await audit(conn, request, "team.created", target_type="team", target_id=row["id"])
    return _json(repo.team_json(row), status=201)


@responds(TeamOut)
async def update_team(request: web.Request) -> web.Response:
    """`PATCH /api/v1/teams/{id}` {"name"?, "description"?}."""
    identity = await caller(request, MANAGER_ROLES)
    team_id = path_id(request, "team_id", "Team")
    body = await parse_json(request, TeamUpdate)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        try:
            row = await repo.update_team(conn, team_id, body.name, body.description)
        except repo.DuplicateTeam:
            raise _duplicate() from None
        if row is None:
            raise _not_found()
        changes = [k for k in ("name", "description") if getattr(body, k) is not None]
        await audit(
            conn, request, "team.updated", target_type="team", target_id=team_id, changes=changes
        )
    return _json(repo.team_json(row))


async def delete_team(request: web.Request) -> web.Response:
    """`DELETE /api/v1/teams/{id}`: its conversations leave it (kept open, assignee kept)."""
    identity = await caller(request, MANAGER_ROLES)
    team_id = path_id(request, "team_id", "Team")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await repo.lock_team(conn, team_id):
            raise _not_found()
        released = await repo.release_conversations(conn, team_id)
        for state in released:
            event = updated_event(state, "assignment", identity=identity, previous_team_id=team_id)
            await emit(conn, identity.tenant_id, event)
        await repo.delete_team(conn, team_id)
        await audit(
            conn,
            request,
            "team.deleted",
            target_type="team",
            target_id=team_id,
            details={"conversations_released": len(released)},
        )
    return web.Response(status=204)


@responds(TeamOut)
async def add_member(request: web.Request) -> web.Response:
    """`POST /api/v1/teams/{id}/members` {"user_id"}: 201 (200 if already a member)."""
    identity = await caller(request, MANAGER_ROLES)
    team_id = path_id(request, "team_id", "Team")
    body = await parse_json(request, MemberAdd)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await repo.lock_team(conn, team_id):
            raise _not_found()
        if not await conversations_repo.is_assignable_user(conn, body.user_id):
            raise ProblemError(
                422,
                "That user cannot be a team member",
                slug="user-not-assignable",
                detail="Add an active owner, admin or agent of this tenant.",
            )
        added = await repo.add_member(conn, identity.tenant_id, team_id, body.user_id)
        if added:
            await audit(
                conn, request, "team.member_added", target_type="team", target_id=team_id,
                details={"user_id": str(body.user_id)},
            )  # fmt: skip
        row = await repo.get_team(conn, team_id)
    return _json(repo.team_json(row), status=201 if added else 200)


async def remove_member(request: web.Request) -> web.Response:
    """`DELETE /api/v1/teams/{id}/members/{user_id}`: 204; 404 if not a member."""
    identity = await caller(request, MANAGER_ROLES)
    team_id = path_id(request, "team_id", "Team")
    user_id = path_id(request, "user_id", "Member")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await repo.lock_team(conn, team_id):
            raise _not_found()
        if not await repo.remove_member(conn, team_id, user_id):
            raise ProblemError(404, "Member not found")
        await audit(
            conn, request, "team.member_removed", target_type="team", target_id=team_id,
            details={"user_id": str(user_id)},
        )  # fmt: skip
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    """Mount the team routes."""
    base = "/api/v1/teams/{team_id}"
    app.router.add_get("/api/v1/teams", list_teams)
    app.router.add_post("/api/v1/teams", create_team)
    app.router.add_get(base, get_team)
    app.router.add_patch(base, update_team)
    app.router.add_delete(base, delete_team)
    app.router.add_post(base + "/members", add_member)
    app.router.add_delete(base + "/members/{user_id}", remove_member)
