"""`POST /api/v1/flows/{id}/runs` (the API trigger), `GET /api/v1/flows/{id}/logs` and its
`/logs/summary`, and `POST /api/v1/flows/{id}/test` (the builder's dry run of the draft)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from aiohttp import web
from pydantic import Field, StringConstraints

from chatflow import flows_repository as flows_repo
from chatflow import sessions_repository as repo
from chatflow.conversation_runs import drive, load_contact, pending_of, start
from chatflow.deps import ENGINE
from chatflow.dry_run import play
from chatflow.engine import Step
from chatflow.flow_nodes import Tag, VariableName
from chatflow.flow_validation import parse_flow
from chatflow.response_models import DryRunOut, FlowLogOut, FlowLogSummaryOut, FlowRunOut
from chatflow.views_flows import _cursor, _dumps, _encode_cursor, _limit
from chatflow.web import ALL_ROLES, MANAGER_ROLES, audit, caller, path_id
from majlis.http import Page, ProblemError, RequestModel, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL


class RunBody(RequestModel):
    """Start the flow's published version in this conversation."""

    conversation_id: UUID


@responds(FlowRunOut)
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
    pending = pending_of(step, session)
    if pending is not None:  # committed: now the call, with no transaction open
        await drive(request.app[DB_POOL], deps, pending)
        async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
            row = await repo.session_state(conn, session.id)
        if row is not None:
            session.status, session.current_node = row["status"], row["current_node"]
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


@responds(Page[FlowLogOut])
async def list_logs(request: web.Request) -> web.Response:
    """GET /api/v1/flows/{flow_id}/logs: newest first; filters node_id, outcome, session_id,
    conversation_id; keyset pages (`cursor`, `limit`). Inputs/outputs stay encrypted."""
    identity = await caller(request, ALL_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    limit, before = _limit(request), _cursor(request.query.get("cursor"))
    where, params = ["flow_id = $1"], list[Any]([flow_id])
    # Each filter read by name, so the OpenAPI generator lists it as a query parameter.
    filters = {
        "node_id": request.query.get("node_id"),
        "outcome": request.query.get("outcome"),
        "session_id": request.query.get("session_id"),
        "conversation_id": request.query.get("conversation_id"),
    }
    for name, value in filters.items():
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


@responds(FlowLogSummaryOut)
async def logs_summary(request: web.Request) -> web.Response:
    """GET /api/v1/flows/{flow_id}/logs/summary: per node, how often each outcome was logged
    (optionally of one `version_id`), how many errors, and the newest error text."""
    identity = await caller(request, ALL_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    where, params = "flow_id = $1", list[Any]([flow_id])
    raw_version = request.query.get("version_id")
    if raw_version is not None:
        try:
            params.append(UUID(raw_version))
        except ValueError:
            raise ProblemError(400, "version_id is not an id", slug="bad-filter") from None
        where += " AND version_id = $2"
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        if await flows_repo.flow(conn, flow_id) is None:
            raise ProblemError(404, "Flow not found")
        counts = await conn.fetch(
            "SELECT node_id, node_type, outcome, count(*) AS runs,"  # noqa: S608  (fixed text; values are $n parameters)
            " count(error) AS errors, max(created_at) AS last_at"
            f" FROM flow_logs WHERE {where} GROUP BY node_id, node_type, outcome"
            " ORDER BY node_id, outcome LIMIT 5000",
            *params,
        )
        latest = await conn.fetch(
            "SELECT DISTINCT ON (node_id) node_id, error, created_at FROM flow_logs"  # noqa: S608  (fixed text; values are $n parameters)
            f" WHERE {where} AND error IS NOT NULL ORDER BY node_id, created_at DESC",
            *params,
        )
    nodes: dict[str, dict[str, Any]] = {}
    for row in counts:
        entry = nodes.setdefault(
            row["node_id"],
            {"node_id": row["node_id"], "node_type": row["node_type"], "total": 0,
             "errors": 0, "outcomes": {}, "last_error": None, "last_at": None},
        )  # fmt: skip
        entry["outcomes"][row["outcome"]] = row["runs"]
        entry["total"] += row["runs"]
        entry["errors"] += row["errors"]
        last = row["last_at"].isoformat()
        entry["last_at"] = max(entry["last_at"] or last, last)
    for row in latest:
        if row["node_id"] in nodes:
            nodes[row["node_id"]]["last_error"] = row["error"]
    return web.json_response({"nodes": list(nodes.values())}, dumps=_dumps)


class DryRunContact(RequestModel):
    """The pretend customer conditions and templates see."""

    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    attributes: dict[VariableName, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, max_length=40
    )


class DryRunBody(RequestModel):
    """The messages the tester types, in turn (the conversation is replayed from the start)."""

    messages: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=50
    )
    contact: DryRunContact = DryRunContact()


@responds(DryRunOut)
async def dry_run_flow(request: web.Request) -> web.Response:
    """POST /api/v1/flows/{flow_id}/test (owner, admin): play the messages against the DRAFT
    without any effect (chatflow.dry_run): nothing is sent, stored, called or changed."""
    identity = await caller(request, MANAGER_ROLES)
    flow_id = path_id(request, "flow_id", "Flow")
    body = await parse_json(request, DryRunBody)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        row = await flows_repo.flow(conn, flow_id)
    if row is None:
        raise ProblemError(404, "Flow not found")
    flow = parse_flow(row["document"])
    contact = body.contact.model_dump(exclude_none=True)
    answer = await play(flow, request.app[ENGINE], identity.tenant_id, contact, list(body.messages))
    return web.json_response(answer, dumps=_dumps)


def add_routes(app: web.Application) -> None:
    """Mount the run, log and test endpoints."""
    app.router.add_post("/api/v1/flows/{flow_id}/runs", start_run)
    app.router.add_get("/api/v1/flows/{flow_id}/logs", list_logs)
    app.router.add_get("/api/v1/flows/{flow_id}/logs/summary", logs_summary)
    app.router.add_post("/api/v1/flows/{flow_id}/test", dry_run_flow)
