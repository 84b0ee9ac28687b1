"""Canned responses: tenant-wide or personal snippets, found by shortcut, rendered per conversation.

Who may do what:
  * everyone reads the tenant's responses and their own personal ones; nobody (not even an
    owner) sees another person's personal responses: they answer 404 like an unknown id;
  * owners and admins create, edit and delete tenant-wide responses;
  * owners, admins and agents create, edit and delete their own personal ones;
  * an API key has no person behind it: it reads tenant responses only.
Variables `{{contact.name}}`, `{{contact.phone}}`, `{{contact.email}}`, `{{agent.name}}` and
`{{business.name}}` are replaced in one pass (a value that itself looks like a variable stays
text); unknown variables are left as they are, a missing value becomes "".
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import orjson
from aiohttp import web
from pydantic import StringConstraints, model_validator

from inbox import canned_repository as repo
from inbox.canned_repository import Canned, RenderContext
from inbox.contact_keys import EMAIL_FIELD, NAME_FIELD, PHONE_FIELD
from inbox.deps import CIPHER
from inbox.response_models import CannedResponseOut, RenderedCannedOut
from inbox.web import AGENT_ROLES, MANAGER_ROLES, audit, caller, path_id
from majlis.crypto import FieldCipher
from majlis.http import Page, ProblemError, RequestModel, json_response, parse_json, responds
from majlis.http.auth import Identity, caller_transaction
from majlis.http.resources import DB_POOL

Shortcut = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Content = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
_PREFIX = re.compile(r"^[a-z0-9_-]{1,32}$")
_VARIABLE = re.compile(r"\{\{\s*([a-z]+\.[a-z]+)\s*\}\}")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_NOT_FOUND = "Canned response not found"


class CannedCreate(RequestModel):
    """A new canned response; personal unless said otherwise."""

    shortcut: Shortcut
    content: Content
    scope: Literal["tenant", "personal"] = "personal"


class CannedChange(RequestModel):
    """A change of shortcut and/or content (the scope stays)."""

    shortcut: Shortcut | None = None
    content: Content | None = None

    @model_validator(mode="after")
    def _something(self) -> CannedChange:
        if self.shortcut is None and self.content is None:
            raise ValueError("give a shortcut, a content or both")
        return self


class RenderRequest(RequestModel):
    """The conversation whose contact fills the variables."""

    conversation_id: UUID


def _json(canned: Canned) -> dict[str, Any]:
    return {
        "id": str(canned.id),
        "shortcut": canned.shortcut,
        "content": canned.content,
        "scope": "tenant" if canned.owner_user_id is None else "personal",
        "owner_user_id": str(canned.owner_user_id) if canned.owner_user_id else None,
        "created_at": canned.created_at,
        "updated_at": canned.updated_at,
    }


_response = json_response


def _viewer(identity: Identity) -> UUID | None:
    return None if identity.kind == "api_key" else identity.principal_id


def _may_write(identity: Identity, owner: UUID | None) -> None:
    """Tenant-wide: owners and admins; personal: the owner alone (never an API key)."""
    if owner is None:
        if identity.role not in MANAGER_ROLES:
            raise ProblemError(
                403, "Only owners and admins manage tenant-wide responses", slug="forbidden-role"
            )
    elif identity.role not in AGENT_ROLES or _viewer(identity) != owner:
        raise ProblemError(
            403, "Personal canned responses belong to a signed-in user", slug="forbidden-role"
        )


def _duplicate() -> ProblemError:
    return ProblemError(
        409, "This shortcut is already used in that scope", slug="canned-response-exists"
    )


def _cursor(request: web.Request) -> tuple[str, UUID] | None:
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        shortcut, canned_id = orjson.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
        if not isinstance(shortcut, str):
            raise ValueError("shortcut")
        return shortcut, UUID(str(canned_id))
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error, orjson.JSONDecodeError):
        raise ProblemError(422, "Invalid cursor", slug="invalid-query") from None


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ProblemError(422, f"limit must be 1 to {MAX_LIMIT}", slug="invalid-query")
    return int(raw)


@responds(Page[CannedResponseOut])
async def list_canned(request: web.Request) -> web.Response:
    """`GET /api/v1/canned-responses?q=<shortcut prefix>&limit=&cursor=`."""
    identity = await caller(request)
    prefix = request.query.get("q")
    if prefix is not None:
        prefix = prefix.strip().lower().lstrip("/")  # "/greet" is how agents type it
        if not _PREFIX.fullmatch(prefix):
            raise ProblemError(422, "q must be the start of a shortcut", slug="invalid-query")
    after, limit = _cursor(request), _limit(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        found = await repo.list_visible(conn, _viewer(identity), prefix, after, limit + 1)
    page = found[:limit]
    cursor = None
    if len(found) > limit:
        last = page[-1]
        cursor = base64.urlsafe_b64encode(orjson.dumps([last.shortcut, str(last.id)])).decode(
            "ascii"
        )
    return _response({"items": [_json(c) for c in page], "next_cursor": cursor})


@responds(CannedResponseOut)
async def create_canned(request: web.Request) -> web.Response:
    """`POST /api/v1/canned-responses`."""
    identity = await caller(request, AGENT_ROLES)
    body = await parse_json(request, CannedCreate)
    owner = None if body.scope == "tenant" else _viewer(identity)
    if body.scope == "personal" and owner is None:
        raise ProblemError(403, "Personal canned responses belong to a signed-in user")
    _may_write(identity, owner)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        created = await repo.insert(
            conn, identity.tenant_id, uuid4(), owner, body.shortcut, body.content
        )
        if created is None:
            raise _duplicate()
        await audit(
            conn,
            request,
            "canned_responses.created",
            target_type="canned_response",
            target_id=created.id,
            details={"scope": body.scope},
        )
    return _response(_json(created), status=201)


@responds(CannedResponseOut)
async def update_canned(request: web.Request) -> web.Response:
    """`PATCH /api/v1/canned-responses/{id}`."""
    identity = await caller(request, AGENT_ROLES)
    canned_id = path_id(request, "canned_id", "Canned response")
    body = await parse_json(request, CannedChange)
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        current = await repo.lock_visible(conn, _viewer(identity), canned_id)
        if current is None:
            raise ProblemError(404, _NOT_FOUND)
        _may_write(identity, current.owner_user_id)
        shortcut = body.shortcut or current.shortcut
        if await repo.shortcut_taken(conn, current.owner_user_id, shortcut, canned_id):
            raise _duplicate()
        updated = await repo.update(conn, canned_id, shortcut, body.content or current.content)
        changes = [name for name in ("shortcut", "content") if getattr(body, name) is not None]
        await audit(
            conn,
            request,
            "canned_responses.updated",
            target_type="canned_response",
            target_id=canned_id,
            changes=changes,
        )
    return _response(_json(updated))


async def delete_canned(request: web.Request) -> web.Response:
    """`DELETE /api/v1/canned-responses/{id}`."""
    identity = await caller(request, AGENT_ROLES)
    canned_id = path_id(request, "canned_id", "Canned response")
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        current = await repo.lock_visible(conn, _viewer(identity), canned_id)
        if current is None:
            raise ProblemError(404, _NOT_FOUND)
        _may_write(identity, current.owner_user_id)
        await repo.delete(conn, canned_id)
        await audit(
            conn,
            request,
            "canned_responses.deleted",
            target_type="canned_response",
            target_id=canned_id,
        )
    return web.Response(status=204)


def render(content: str, values: dict[str, str]) -> str:
    """Replace known variables in one pass; unknown ones stay as written."""

    def value(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return _VARIABLE.sub(value, content)


def variable_values(cipher: FieldCipher, tenant_id: UUID, ctx: RenderContext) -> dict[str, str]:
    """Every known variable's value ("" when missing), contact fields decrypted."""

    def clear(value: bytes | None, field: str) -> str:
        if value is None:
            return ""
        return cipher.decrypt_text(value, tenant_id=tenant_id, field=field)

    return {
        "contact.name": clear(ctx.name_enc, NAME_FIELD),
        "contact.phone": clear(ctx.phone_enc, PHONE_FIELD),
        "contact.email": clear(ctx.email_enc, EMAIL_FIELD),
        "agent.name": ctx.agent_name or "",
        "business.name": ctx.business_name or "",
    }


@responds(RenderedCannedOut)
async def render_canned(request: web.Request) -> web.Response:
    """`POST /api/v1/canned-responses/{id}/render` {"conversation_id"}: the text to send."""
    identity = await caller(request, AGENT_ROLES)
    canned_id = path_id(request, "canned_id", "Canned response")
    body = await parse_json(request, RenderRequest)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        canned = await repo.get_visible(conn, _viewer(identity), canned_id)
        if canned is None:
            raise ProblemError(404, _NOT_FOUND)
        ctx = await repo.render_context(conn, body.conversation_id, _viewer(identity))
        if ctx is None:
            raise ProblemError(404, "Conversation not found")
    values = variable_values(request.app[CIPHER], identity.tenant_id, ctx)
    return _response({"text": render(canned.content, values)})


def add_routes(app: web.Application) -> None:
    """Mount the canned-response routes."""
    app.router.add_get("/api/v1/canned-responses", list_canned)
    app.router.add_post("/api/v1/canned-responses", create_canned)
    app.router.add_patch("/api/v1/canned-responses/{canned_id}", update_canned)
    app.router.add_delete("/api/v1/canned-responses/{canned_id}", delete_canned)
    app.router.add_post("/api/v1/canned-responses/{canned_id}/render", render_canned)
