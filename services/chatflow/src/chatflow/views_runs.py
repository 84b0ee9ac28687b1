"""`POST /api/v1/flows/{id}/runs` (the API trigger) and `GET /api/v1/flows/{id}/logs`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from chatflow import flows_repository as flows_repo
from chatflow import sessions_repository as repo
from chatflow.conversation_runs import load_contact, start
from chatflow.deps import ENGINE
from chatflow.engine import Step
from chatflow.views_flows import _cursor, _dumps, _encode_cursor, _limit
from chatflow.web import ALL_ROLES, MANAGER_ROLES, audit, caller, path_id
from majlis.http import ProblemError, RequestModel, parse_json
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL


class RunBody(RequestModel):
    """Start the flow's published version in this conversation."""

    conversation_id: UUID


async def start_run(request: web.Request) -> web.Response:
    """POST /api/v1/flows/{flow_id}/runs (owner, admin): replaces an unfinished session."""
    identity = await caller(request, MANAGER_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    body = await parse_json(request, RunBody)
    deps = request.app[ENGINE]
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        await repo.lock_conversation(conn, body.conversation_id)
        flow = await flows_repo.flow(conn, flow_id)
        if flow is None:
            raise ProblemError(404, "Flow not found")
        conversation = await repo.conversation(conn, body.conversation_id)
        if conversation is None:
            raise ProblemError(404, "Conversation not found")
        if flow["published_version_id"] is None:
            raise ProblemError(409, "The flow has no published version", slug="flow-unpublished")
        if conversation["controller"] != "bot":
            raise ProblemError(409, "A person handles this conversation", slug="not-bot-controlled")
        await repo.end_active(conn, body.conversation_id, "replaced")
        contact = await load_contact(conn, deps, identity.tenant_id, conversation["contact_id"])
        step = Step(conn, identity.tenant_id, deps, conversation["contact_id"], contact)
        session = await start(
            step, flow_id, flow["published_version_id"], body.conversation_id, None, ""
        )
        await audit(
            conn, request, "flows.run_started", flow_id,
            {"conversation_id": str(body.conversation_id), "session_id": str(session.id)},
        )  # fmt: skip
    return web.json_response(
        {"session_id": str(session.id), "status": session.status, "node": session.current_node},
        status=201,
    )


def _log_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "session_id": str(row["session_id"]),
        "conversation_id": str(row["conversation_id"]),
        "version_id": str(row["version_id"]),
        "node_id": row["node_id"],
        "node_type": row["node_type"],
        "outcome": row["outcome"],
        "duration_ms": row["duration_ms"],
        "error": row["error"],
        "created_at": row["created_at"].isoformat(),
    }


async def list_logs(request: web.Request) -> web.Response:
    """GET /api/v1/flows/{flow_id}/logs: newest first; filters node_id, outcome, session_id,
    conversation_id; keyset pages (`cursor`, `limit`). Inputs/outputs stay encrypted."""
    identity = await caller(request, ALL_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    limit, before = _limit(request), _cursor(request.query.get("cursor"))
    where, params = ["flow_id = $1"], list[Any]([flow_id])
    for name in ("node_id", "outcome", "session_id", "conversation_id"):
        value = request.query.get(name)
        if value is None:
            continue
        if name.endswith("_id") and name != "node_id":
            try:
                params.append(UUID(value))
            except ValueError:
                raise ProblemError(400, f"{name} is not an id", slug="bad-filter") from None
        else:
            params.append(value)
        where.append(f"{name} = ${len(params)}")
    if before is not None:
        params += [before[0], before[1]]
        where.append(f"(created_at, id) < (${len(params) - 1}, ${len(params)})")
    params.append(limit + 1)
    # The WHERE clause is built from fixed fragments; every value is a $n parameter.
    sql = (
        "SELECT id, session_id, conversation_id, version_id, node_id, node_type, outcome,"  # noqa: S608  (fixed text; values are $n parameters)
        " duration_ms, error, created_at FROM flow_logs WHERE " + " AND ".join(where)
        + f" ORDER BY created_at DESC, id DESC LIMIT ${len(params)}"
    )  # fmt: skip
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        if await flows_repo.flow(conn, flow_id) is None:
            raise ProblemError(404, "Flow not found")
        rows = await conn.fetch(sql, *params)
    page, more = rows[:limit], len(rows) > limit
    last: datetime | None = page[-1]["created_at"] if page else None
    cursor = _encode_cursor(last, page[-1]["id"]) if more and last else None
    return web.json_response(
        {"items": [_log_json(r) for r in page], "next_cursor": cursor}, dumps=_dumps
    )


def add_routes(app: web.Application) -> None:
    """Mount the run and log endpoints."""
    app.router.add_post("/api/v1/flows/{flow_id}/runs", start_run)
    app.router.add_get("/api/v1/flows/{flow_id}/logs", list_logs)
