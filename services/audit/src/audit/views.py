"""HTTP API of the audit log: list, CSV export and chain verification.

Zero trust behind the gateway: every request's bearer token is verified here. Only owners and
admins read the log (403 otherwise), and only on the Business plan (403
`business-plan-required`); the plan is read inside the caller's tenant transaction. Row-level
security limits every read to the caller's tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import AwareDatetime, Field, ValidationError

from audit import repository
from audit.csv_export import csv_lines
from audit.deps import SIGNING_KEY
from audit.response_models import AuditEventOut, AuditVerdictOut
from audit.verification import verify_tenant
from majlis.http import Page, ProblemError, RequestModel, responds, responds_file
from majlis.http.auth import Identity, caller_transaction
from majlis.http.requests import validation_errors
from majlis.http.resources import AUTHENTICATOR, DB_POOL
from majlis.logging import get_logger
from majlis.plans import Feature, require_feature, tenant_plan

log = get_logger(__name__)

_READERS = frozenset({"owner", "admin"})
_EXPORT_CHUNK = 500


class Query(RequestModel):
    """Query string of the list and export endpoints."""

    actor_id: UUID | None = None
    action: str | None = Field(default=None, max_length=200)
    target_type: str | None = Field(default=None, max_length=200)
    target_id: str | None = Field(default=None, max_length=500)
    occurred_from: AwareDatetime | None = Field(default=None, alias="from")
    occurred_to: AwareDatetime | None = Field(default=None, alias="to")
    cursor: int | None = Field(default=None, ge=1)
    limit: int = Field(default=50, ge=1, le=200)

    def filters(self) -> repository.Filters:
        """The SQL filters of this query."""
        return repository.Filters(
            self.actor_id,
            self.action,
            self.target_type,
            self.target_id,
            self.occurred_from,
            self.occurred_to,
        )


def _query(request: web.Request, *, allowed: frozenset[str] | None = None) -> Query:
    params = dict(request.query)
    if allowed is not None and set(params) - allowed:
        raise ProblemError(400, "Unknown query parameter")
    try:
        return Query.model_validate(params)
    except ValidationError as error:
        raise ProblemError(400, "The query is not valid", errors=validation_errors(error)) from None


async def _reader(request: web.Request) -> Identity:
    """The authenticated caller, if an owner or admin; 401/403 otherwise."""
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    if identity.role not in _READERS:
        raise ProblemError(403, "Only owners and admins can read the audit log")
    return identity


async def _require_business(conn: asyncpg.Connection[Any], tenant_id: UUID) -> None:
    """The audit log is a Business feature; majlis.plans decides (403 otherwise)."""
    require_feature(await tenant_plan(conn, tenant_id), Feature.AUDIT_LOG)


def _item(row: asyncpg.Record) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name in repository.COLUMNS:
        value = row[name]
        if isinstance(value, bytes):
            value = value.hex()
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, UUID):
            value = str(value)
        item[name] = value
    return item


@responds(Page[AuditEventOut])
async def list_audit_events(request: web.Request) -> web.Response:
    """`GET /api/v1/audit/events`: newest first, filtered, keyset-paginated by `cursor`."""
    identity = await _reader(request)
    query = _query(request, allowed=_LIST_PARAMS)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        await _require_business(conn, identity.tenant_id)
        rows = await repository.page(conn, query.filters(), query.cursor, query.limit + 1)
    more = len(rows) > query.limit
    items = [_item(r) for r in rows[: query.limit]]
    next_cursor = str(items[-1]["seq"]) if more and items else None
    return web.json_response({"items": items, "next_cursor": next_cursor})


@responds_file("text/csv")
async def export_audit_csv(request: web.Request) -> web.StreamResponse:
    """`GET /api/v1/audit/export.csv`: every matching entry, oldest first, streamed."""
    identity = await _reader(request)
    query = _query(request, allowed=_EXPORT_PARAMS)
    response: web.StreamResponse | None = None
    exported = 0
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        await _require_business(conn, identity.tenant_id)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8; header=present",
                "Content-Disposition": 'attachment; filename="audit-log.csv"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            }
        )
        await response.prepare(request)
        await response.write(csv_lines([], header=True))
        chunk: list[asyncpg.Record] = []
        async for row in repository.export_rows(conn, query.filters()):
            chunk.append(row)
            if len(chunk) >= _EXPORT_CHUNK:
                await response.write(csv_lines(chunk))
                exported += len(chunk)
                chunk = []
        await response.write(csv_lines(chunk))
        exported += len(chunk)
    await response.write_eof()
    log.info("audit.exported", rows=exported)
    return response


@responds(AuditVerdictOut)
async def verify_audit_chain(request: web.Request) -> web.Response:
    """`POST /api/v1/audit/verify`: recompute the caller's tenant chain."""
    identity = await _reader(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        await _require_business(conn, identity.tenant_id)
    verdict = await verify_tenant(
        request.app[DB_POOL],
        request.app[SIGNING_KEY],
        identity.tenant_id,
        identity.role,
        identity.principal_id,
    )
    log.info(
        "audit.verified",
        ok=verdict.ok,
        checked=verdict.checked,
        first_broken_seq=verdict.first_broken_seq,
        head_matches_signed=verdict.head_matches_signed,
    )
    return web.json_response(verdict.as_dict())


_EXPORT_PARAMS = frozenset({"actor_id", "action", "target_type", "target_id", "from", "to"})
_LIST_PARAMS = _EXPORT_PARAMS | {"cursor", "limit"}


def add_routes(app: web.Application) -> None:
    """Mount the audit service's HTTP API."""
    app.router.add_get("/api/v1/audit/events", list_audit_events)
    app.router.add_get("/api/v1/audit/export.csv", export_audit_csv)
    app.router.add_post("/api/v1/audit/verify", verify_audit_chain)
