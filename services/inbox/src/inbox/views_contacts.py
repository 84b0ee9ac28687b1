"""Contacts (CRM) HTTP API: list and search, CRUD, tags, consent, soft delete and restore, merge.

CSV import/export live in inbox.contacts_csv, data-subject requests and the retention purge
in inbox.contacts_purge, the attribute schema in inbox.contact_attributes; their routes are
mounted here. Another tenant's contact id answers 404 exactly like an unknown one: row-level
security never lets the transaction see it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from aiohttp import web
from pydantic import Field, StrictBool

from inbox import contact_attributes, contact_keys, contacts_csv, contacts_merge, contacts_purge
from inbox import contacts_repository as repo
from inbox.contact_answers import ConsentOut, ContactOut, ContactTagsOut
from inbox.contacts import (
    InvalidContact,
    Marketing,
    clean_phone,
    clean_tags,
    consent_flags,
    contact_json,
    create_contact,
    invalid,
    patch_contact,
)
from inbox.contacts_purge import RETENTION_DAYS, purge_ctx
from inbox.contacts_repository import ContactFilter, ContactPatch
from inbox.deps import INBOX_DEPS
from inbox.web import AGENT_ROLES, MANAGER_ROLES, audit, caller, emit, path_id, require_role
from majlis.events.inbox import ContactChanged
from majlis.http import Page, ProblemError, RequestModel, parse_json, responds
from majlis.http.auth import caller_transaction

__all__ = ["add_routes", "purge_ctx"]

RETENTION = timedelta(days=RETENTION_DAYS)
MERGE_ROLES = AGENT_ROLES


class ContactIn(RequestModel):
    """Body of POST /api/v1/contacts (and, every field optional, of PATCH)."""

    phone: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=400)
    tags: list[str] | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = None
    marketing: Marketing | None = None


class TagsIn(RequestModel):
    """Body of PUT /api/v1/contacts/{id}/tags."""

    tags: list[str] = Field(max_length=200)


class ConsentIn(RequestModel):
    """Body of PUT /api/v1/contacts/{id}/consent."""

    marketing: Marketing
    processing_restricted: StrictBool


class MergeIn(RequestModel):
    """Body of POST /api/v1/contacts/{id}/merge."""

    source_id: UUID


def _cursor(row: repo.ContactRow) -> str:
    raw = orjson.dumps({"t": row.created_at.isoformat(), "i": str(row.id)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, UUID]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(data["t"]), UUID(data["i"])
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        raise ProblemError(422, "The cursor is not valid", slug="invalid-cursor") from None


def _filter(request: web.Request, tenant_id: UUID, deleted: bool) -> ContactFilter:
    """The list's query parameters; q is matched by blind index only, never by decrypting."""
    query = request.query
    unknown = set(query) - {"q", "tag", "deleted", "limit", "cursor"}
    if unknown:
        raise ProblemError(422, "Unknown query parameter", slug="invalid-query",
                           errors=[{"field": name} for name in sorted(unknown)])  # fmt: skip
    try:
        limit = int(query.get("limit", "25"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ProblemError(422, "limit must be 1 to 100", slug="invalid-query")
    deps = request.app[INBOX_DEPS]
    indexes: dict[str, bytes | None] = {"phone": None, "email": None, "name": None}
    q = query.get("q", "").strip()
    if len(q) > 400:
        raise ProblemError(422, "q is too long", slug="invalid-query")
    if "@" in q:
        indexes["email"] = deps.indexer.value(
            contact_keys.email_key(q), tenant_id=tenant_id, field=contact_keys.EMAIL_FIELD
        )
    elif q:
        try:
            e164 = clean_phone(q, deps.phone_region)
            indexes["phone"] = deps.indexer.value(
                e164, tenant_id=tenant_id, field=contact_keys.PHONE_FIELD
            )
        except InvalidContact:
            indexes["name"] = deps.indexer.value(
                contact_keys.name_key(q), tenant_id=tenant_id, field=contact_keys.NAME_FIELD
            )
    tag = query.get("tag")
    if tag is not None:
        try:
            tag = clean_tags([tag])[0]
        except InvalidContact:
            raise ProblemError(422, "tag is not valid", slug="invalid-query") from None
    cursor = query.get("cursor")
    return ContactFilter(
        phone_bidx=indexes["phone"], email_bidx=indexes["email"], name_bidx=indexes["name"],
        tag=tag, deleted=deleted, retention=RETENTION,
        after=_after(cursor) if cursor else None, limit=limit + 1,
    )  # fmt: skip


@responds(Page[ContactOut])
async def list_contacts(request: web.Request) -> web.Response:
    """`GET /api/v1/contacts`: search (?q, ?tag), ?deleted=true (owner/admin), keyset pages."""
    identity = await caller(request)
    deleted_param = request.query.get("deleted", "false")
    if deleted_param not in ("true", "false"):
        raise ProblemError(422, "deleted must be true or false", slug="invalid-query")
    deleted = deleted_param == "true"
    if deleted:
        require_role(identity, MANAGER_ROLES)
    f = _filter(request, identity.tenant_id, deleted)
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        rows = await repo.list_contacts(conn, f)
        schema = await contact_attributes.load_schema(conn)
    page = rows[: f.limit - 1]
    more = len(rows) > len(page)
    return web.json_response(
        {
            "items": [contact_json(deps, identity.tenant_id, r, schema) for r in page],
            "next_cursor": _cursor(page[-1]) if more and page else None,
        },
    )


@responds(ContactOut)
async def post_contact(request: web.Request) -> web.Response:
    """`POST /api/v1/contacts` (agents+): 201, 409 `contact-exists` for a known phone."""
    identity = await caller(request, AGENT_ROLES)
    body = await parse_json(request, ContactIn)
    deps = request.app[INBOX_DEPS]
    fields = body.model_dump(exclude_unset=True)
    async with caller_transaction(deps.pool, identity) as conn:
        schema = await contact_attributes.load_schema(conn)
        contact_id = await create_contact(conn, deps, identity.tenant_id, fields, schema)
        row = await repo.get_contact(conn, contact_id)
        await audit(conn, request, "contacts.created", target_type="contact",
                    target_id=contact_id, changes=sorted(fields))  # fmt: skip
        await emit(
            conn, identity.tenant_id, ContactChanged(contact_id=contact_id, change="created")
        )
    assert row is not None  # created in this very transaction
    return web.json_response(contact_json(deps, identity.tenant_id, row, schema), status=201)


@responds(ContactOut)
async def get_contact(request: web.Request) -> web.Response:
    """`GET /api/v1/contacts/{id}`: one live contact (any role)."""
    identity = await caller(request)
    contact_id = path_id(request, "contact_id", "Contact")
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        row = await repo.get_contact(conn, contact_id)
        schema = await contact_attributes.load_schema(conn)
    if row is None:
        raise ProblemError(404, "Contact not found")
    return web.json_response(contact_json(deps, identity.tenant_id, row, schema))


@responds(ContactOut)
async def patch_contact_view(request: web.Request) -> web.Response:
    """`PATCH /api/v1/contacts/{id}` (agents+): fields as POST, null clears name/email."""
    identity = await caller(request, AGENT_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    body = await parse_json(request, ContactIn)
    fields = body.model_dump(exclude_unset=True)
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity) as conn:
        current = await repo.get_contact(conn, contact_id, for_update=True)
        if current is None:
            raise ProblemError(404, "Contact not found")
        schema = await contact_attributes.load_schema(conn)
        changes = await patch_contact(conn, deps, identity.tenant_id, current, fields, schema)
        row = await repo.get_contact(conn, contact_id)
        await audit(conn, request, "contacts.updated", target_type="contact",
                    target_id=contact_id, changes=changes)  # fmt: skip
        await emit(
            conn, identity.tenant_id, ContactChanged(contact_id=contact_id, change="updated")
        )
    assert row is not None
    return web.json_response(contact_json(deps, identity.tenant_id, row, schema))


@responds(ContactTagsOut)
async def put_tags(request: web.Request) -> web.Response:
    """`PUT /api/v1/contacts/{id}/tags` (agents+): the contact's whole tag set."""
    identity = await caller(request, AGENT_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    body = await parse_json(request, TagsIn)
    try:
        tags = clean_tags(body.tags)
    except InvalidContact as error:
        raise invalid(error) from None
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity) as conn:
        current = await repo.get_contact(conn, contact_id, for_update=True)
        if current is None:
            raise ProblemError(404, "Contact not found")
        await repo.replace_tags(conn, identity.tenant_id, contact_id, tags)
        await repo.update_contact(conn, contact_id, ContactPatch())  # bumps updated_at
        await emit(
            conn, identity.tenant_id, ContactChanged(contact_id=contact_id, change="updated")
        )
        await audit(
            conn, request, "contacts.tags.replaced", target_type="contact",
            target_id=contact_id, details={"tags": len(tags)}, changes=["tags"],
        )  # fmt: skip
    return web.json_response({"id": str(contact_id), "tags": sorted(tags)})


@responds(ConsentOut)
async def put_consent(request: web.Request) -> web.Response:
    """`PUT /api/v1/contacts/{id}/consent` (agents+): marketing consent and restriction."""
    identity = await caller(request, AGENT_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    body = await parse_json(request, ConsentIn)
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity) as conn:
        current = await repo.get_contact(conn, contact_id, for_update=True)
        if current is None:
            raise ProblemError(404, "Contact not found")
        flags = consent_flags(body.marketing)
        changes = []
        if flags != (current.marketing_opt_in, current.marketing_opt_out):
            changes.append("marketing")
        if body.processing_restricted != current.processing_restricted:
            changes.append("processing_restricted")
        patch = ContactPatch(consent=flags, processing_restricted=body.processing_restricted)
        await repo.update_contact(conn, contact_id, patch)
        await emit(
            conn, identity.tenant_id, ContactChanged(contact_id=contact_id, change="updated")
        )
        row = await repo.get_contact(conn, contact_id)
        await audit(
            conn, request, "contacts.consent.updated", target_type="contact",
            target_id=contact_id, changes=changes,
            details={"marketing": body.marketing,
                     "processing_restricted": body.processing_restricted},
        )  # fmt: skip
    assert row is not None
    return web.json_response(contact_json(deps, identity.tenant_id, row, {})["consent"])


async def delete_contact(request: web.Request) -> web.Response:
    """`DELETE /api/v1/contacts/{id}` (owner/admin): soft delete, restorable for 30 days."""
    identity = await caller(request, MANAGER_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    async with caller_transaction(request.app[INBOX_DEPS].pool, identity) as conn:
        if not await repo.soft_delete(conn, contact_id, identity.principal_id):
            raise ProblemError(404, "Contact not found")
        await audit(conn, request, "contacts.deleted", target_type="contact",
                    target_id=contact_id, details={"retention_days": RETENTION_DAYS})  # fmt: skip
    return web.Response(status=204)


@responds(ContactOut)
async def restore_contact(request: web.Request) -> web.Response:
    """`POST /api/v1/contacts/{id}/restore` (owner/admin): within 30 days of the delete."""
    identity = await caller(request, MANAGER_ROLES)
    contact_id = path_id(request, "contact_id", "Contact")
    deps = request.app[INBOX_DEPS]
    async with caller_transaction(deps.pool, identity) as conn:
        outcome = await repo.restore(conn, contact_id, RETENTION)
        if outcome == "missing":
            raise ProblemError(404, "Contact not found")
        if outcome == "not_deleted":
            raise ProblemError(409, "The contact is not deleted", slug="contact-not-deleted")
        if outcome == "expired":
            raise ProblemError(410, "The restore period has passed", slug="restore-expired")
        row = await repo.get_contact(conn, contact_id)
        schema = await contact_attributes.load_schema(conn)
        await audit(conn, request, "contacts.restored", target_type="contact",
                    target_id=contact_id)  # fmt: skip
    assert row is not None
    return web.json_response(contact_json(deps, identity.tenant_id, row, schema))


@responds(ContactOut)
async def merge_contacts(request: web.Request) -> web.Response:
    """`POST /api/v1/contacts/{id}/merge` (agents+): fold `source_id` into this contact."""
    identity = await caller(request, MERGE_ROLES)
    target_id = path_id(request, "contact_id", "Contact")
    body = await parse_json(request, MergeIn)
    if body.source_id == target_id:
        raise ProblemError(422, "A contact cannot be merged into itself", slug="merge-same-contact")
    deps = request.app[INBOX_DEPS]
    row, schema = await contacts_merge.merge(request, deps, identity, target_id, body.source_id)
    return web.json_response(contact_json(deps, identity.tenant_id, row, schema))


def add_routes(app: web.Application) -> None:
    """Mount the contacts API (fixed paths before `{contact_id}`)."""
    contact_attributes.add_routes(app)
    contacts_csv.add_routes(app)
    r = app.router
    r.add_get("/api/v1/contacts", list_contacts)
    r.add_post("/api/v1/contacts", post_contact)
    contacts_purge.add_routes(app)
    r.add_get("/api/v1/contacts/{contact_id}", get_contact)
    r.add_patch("/api/v1/contacts/{contact_id}", patch_contact_view)
    r.add_delete("/api/v1/contacts/{contact_id}", delete_contact)
    r.add_put("/api/v1/contacts/{contact_id}/tags", put_tags)
    r.add_put("/api/v1/contacts/{contact_id}/consent", put_consent)
    r.add_post("/api/v1/contacts/{contact_id}/restore", restore_contact)
    r.add_post("/api/v1/contacts/{contact_id}/merge", merge_contacts)
