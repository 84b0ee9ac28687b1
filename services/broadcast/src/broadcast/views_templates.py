"""`/api/v1/templates`: create (validated, stored encrypted, submitted to Meta), list, get, delete.

Views authenticate each request themselves and run every query in `caller_transaction`
(RLS): another tenant's template is not found (404), exactly like an unknown id. Meta is
called outside any transaction; the row is inserted first so the unique key decides a
duplicate, and removed again if Meta refuses the template.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from aiohttp import web

from broadcast import templates_repository as repo
from broadcast.response_models import TemplateDetailOut, TemplateOut
from broadcast.templates import (
    CONTENT_FIELD,
    NAME_PATTERN,
    CreateTemplate,
    meta_payload,
    validate_components,
)
from majlis.crypto import FieldCipher, KeyRing
from majlis.events import Event, make_envelope
from majlis.events.broadcast import BroadcastAuditRecorded, TemplateUpdated
from majlis.http import Page, ProblemError, parse_json, responds
from majlis.http.audit_events import caller_audit_event
from majlis.http.auth import IDENTITY, Identity, caller_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import AUTHENTICATOR, DB_POOL, egress_policy
from majlis.http.tokens import Role
from majlis.logging import get_logger
from majlis.messaging import add_to_outbox
from majlis.meta import GraphApiError, GraphClient
from majlis.net.egress import egress_session

log = get_logger(__name__)
TOKEN_FIELD = "whatsapp_numbers.access_token"  # noqa: S105  # a field name, not a secret
ALL_ROLES: frozenset[Role] = frozenset({"owner", "admin", "agent", "viewer"})
MANAGER_ROLES: frozenset[Role] = frozenset({"owner", "admin"})
_STATUS = re.compile(r"[A-Z_]{1,40}")
_NAME = re.compile(NAME_PATTERN)
PAGE_DEFAULT, PAGE_MAX = 25, 100


@dataclass(frozen=True, slots=True)
class TemplatesDeps:
    """What the template views need: the pool, field encryption, the Graph API."""

    pool: asyncpg.Pool[Any]
    cipher: FieldCipher
    graph: GraphClient


TEMPLATES: web.AppKey[TemplatesDeps] = web.AppKey("templates_deps", TemplatesDeps)


async def templates_ctx(app: web.Application) -> AsyncIterator[None]:
    """The views' dependencies, with an HTTP session of their own for the Graph API."""
    settings = app[SETTINGS]
    async with egress_session(egress_policy(app)) as session:
        app[TEMPLATES] = TemplatesDeps(
            app[DB_POOL],
            FieldCipher(KeyRing.from_settings(settings)),
            GraphClient.from_settings(session, settings),
        )
        yield


async def caller(request: web.Request, roles: frozenset[Role]) -> Identity:
    """The verified identity (401 without one), 403 unless it has one of `roles`."""
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    if identity.role not in roles:
        raise ProblemError(403, "Your role does not allow this", slug="forbidden-role")
    return identity


async def emit(conn: Any, tenant_id: UUID, event: Event) -> None:
    """Queue an event in the caller's transaction (published only if it commits)."""
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


async def audit(
    conn: Any,
    request: web.Request,
    action: str,
    template_id: UUID,
    details: dict[str, Any],
    *,
    target_type: str = "template",
) -> None:
    """Audit the caller's action on a template or campaign (ids, names, states; no content)."""
    event = caller_audit_event(
        BroadcastAuditRecorded, request, action,
        target_type=target_type, target_id=template_id, details=details,
    )  # fmt: skip
    await emit(conn, request[IDENTITY].tenant_id, event)


def _template_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["template_id"])
    except ValueError:
        raise ProblemError(404, "Template not found") from None


def _public(row: Any, components: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "number_id": str(row["number_id"]),
        "waba_id": row["waba_id"],
        "name": row["name"],
        "language": row["language"],
        "category": row["category"],
        "status": row["status"],
        "reason": row["reason"],
        "meta_template_id": row["meta_template_id"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
    if components is not None:
        body["components"] = components
    return body


def meta_problem(error: GraphApiError, action: str) -> ProblemError:
    """Meta's refusal as a problem: 422 when Meta judged the request, else 502."""
    # Meta's code and title only: its message may quote the request, never our token.
    log.warning(f"template.{action}.meta_error", code=error.code, status=error.status)
    extensions: dict[str, Any] = {"meta_code": error.code, "meta_subcode": error.subcode}
    title = error.title or error.message[:200] or "Meta refused the request"
    if error.is_retryable or error.is_auth_error or error.status == 0:
        return ProblemError(502, f"Meta: {title}", slug="meta-unavailable", **extensions)
    return ProblemError(422, f"Meta: {title}", slug="meta-rejected", **extensions)


@responds(TemplateDetailOut)
async def create_template(request: web.Request) -> web.Response:
    """POST /api/v1/templates (owner, admin): validate, store encrypted, submit to Meta."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, CreateTemplate)
    validate_components(body)
    deps, tenant_id, template_id = request.app[TEMPLATES], identity.tenant_id, uuid4()
    payload = meta_payload(body)
    async with caller_transaction(deps.pool, identity) as conn:
        if body.number_id is not None:
            number = await repo.number_by_id(conn, body.number_id)
        else:
            number = await repo.number_by_waba(conn, body.waba_id or "")
        if number is None or (body.waba_id is not None and number["waba_id"] != body.waba_id):
            raise ProblemError(
                422,
                "The request body is not valid",
                errors=[{"field": "number_id", "message": "Unknown number", "code": "unknown"}],
            )
        content = json.dumps(payload["components"], ensure_ascii=False)
        sealed = deps.cipher.encrypt(content, tenant_id=tenant_id, field=CONTENT_FIELD)
        row = await repo.insert(
            conn, template_id, number["id"], number["waba_id"], body.name, body.language,
            body.category, sealed,
        )  # fmt: skip
        if row is None:
            raise ProblemError(
                409, "A template with this name and language exists", slug="template-exists"
            )
        token = deps.cipher.decrypt_text(
            number["access_token_enc"], tenant_id=tenant_id, field=TOKEN_FIELD
        )
    try:
        answer = await deps.graph.create_template(number["waba_id"], token, payload)
    except GraphApiError as error:
        async with caller_transaction(deps.pool, identity) as conn:
            await repo.delete(conn, template_id)
        raise meta_problem(error, "create") from None
    meta_id, status = str(answer.get("id", "")), str(answer.get("status", "PENDING")).upper()
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.set_submitted(conn, template_id, meta_id, status)
        if row is None:  # deleted meanwhile
            raise ProblemError(404, "Template not found")
        await emit(conn, tenant_id, TemplateUpdated(template_id=template_id, status=row["status"]))
        details = {"name": body.name, "language": body.language, "category": body.category}
        await audit(conn, request, "templates.created", template_id, details)
    response = web.json_response(_public(row, payload["components"]), status=201)
    response.headers["Location"] = f"/api/v1/templates/{template_id}"
    return response


def _cursor(row: Any) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_cursor(value: str) -> tuple[datetime, UUID]:
    try:
        stamp, _, ident = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
        return datetime.fromisoformat(stamp), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_query("after", "Not a valid cursor") from None


def _bad_query(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid query parameters",
        slug="invalid-query",
        errors=[{"field": field, "message": message, "code": "invalid"}],
    )


@responds(Page[TemplateOut])
async def list_templates(request: web.Request) -> web.Response:
    """GET /api/v1/templates?status=&name=&limit=&after= (every role), newest first."""
    identity = await caller(request, ALL_ROLES)
    query = request.query
    status = query.get("status")
    if status is not None and not _STATUS.fullmatch(status.upper()):
        raise _bad_query("status", "Not a template status")
    name = query.get("name")
    if name is not None and not _NAME.fullmatch(name):
        raise _bad_query("name", "Not a template name")
    limit_text = query.get("limit", str(PAGE_DEFAULT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_MAX:
        raise _bad_query("limit", f"Must be 1 to {PAGE_MAX}")
    after = _parse_cursor(query["after"]) if "after" in query else None
    limit = int(limit_text)
    deps = request.app[TEMPLATES]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        rows = await repo.page(
            conn,
            status=status.upper() if status else None,
            name=name,
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response(
        {"items": [_public(r) for r in rows], "next_cursor": _cursor(rows[-1]) if more else None}
    )


@responds(TemplateDetailOut)
async def get_template(request: web.Request) -> web.Response:
    """GET /api/v1/templates/{id} (every role), with its decrypted components."""
    identity = await caller(request, ALL_ROLES)
    template_id = _template_id(request)
    deps = request.app[TEMPLATES]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        row = await repo.get(conn, template_id)
    if row is None:
        raise ProblemError(404, "Template not found")
    content = deps.cipher.decrypt_text(
        row["content_enc"], tenant_id=identity.tenant_id, field=CONTENT_FIELD
    )
    return web.json_response(_public(row, json.loads(content)))


async def delete_template(request: web.Request) -> web.Response:
    """DELETE /api/v1/templates/{id} (owner, admin): at Meta (all its languages), then here."""
    identity = await caller(request, MANAGER_ROLES)
    template_id = _template_id(request)
    deps = request.app[TEMPLATES]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        row = await repo.get(conn, template_id)
        number = await repo.number_by_id(conn, row["number_id"]) if row is not None else None
    if row is None or number is None:
        raise ProblemError(404, "Template not found")
    at_meta = row["meta_template_id"] is not None and row["status"] != "DELETED"
    if at_meta:
        token = deps.cipher.decrypt_text(
            number["access_token_enc"], tenant_id=identity.tenant_id, field=TOKEN_FIELD
        )
        try:
            await deps.graph.delete_template(row["waba_id"], token, row["name"])
        except GraphApiError as error:
            raise meta_problem(error, "delete") from None
    async with caller_transaction(deps.pool, identity) as conn:
        if at_meta:  # Meta deleted every language of the name: so do we.
            gone = await repo.delete_name(conn, row["waba_id"], row["name"])
        else:
            gone = [template_id] if await repo.delete(conn, template_id) else []
        for deleted in gone:
            await emit(
                conn, identity.tenant_id, TemplateUpdated(template_id=deleted, status="DELETED")
            )
            details = {"name": row["name"], "languages_deleted": len(gone)}
            await audit(conn, request, "templates.deleted", deleted, details)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    """Register the template routes."""
    app.router.add_post("/api/v1/templates", create_template)
    app.router.add_get("/api/v1/templates", list_templates)
    app.router.add_get("/api/v1/templates/{template_id}", get_template)
    app.router.add_delete("/api/v1/templates/{template_id}", delete_template)
