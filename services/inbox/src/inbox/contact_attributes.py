"""Custom contact attributes: the per-tenant schema, value validation and its HTTP API.

Values live encrypted as one JSON object in contacts.attributes_enc and are checked against
the schema on every write. Reading shows only values that fit the schema as it is now: a
deleted attribute, a removed list option or a changed definition hides old values instead of
rewriting every contact's ciphertext; the next write of that contact drops them for good.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any
from uuid import UUID

import orjson
from aiohttp import web
from pydantic import Field

from inbox import contacts_repository as repo
from inbox.contact_keys import ATTRIBUTES_FIELD
from inbox.contacts_repository import AttributeDefinition, AttributeType
from inbox.response_models import AttributeDefinitionOut, AttributeDefinitionsOut
from inbox.web import MANAGER_ROLES, audit, caller
from majlis.crypto import FieldCipher
from majlis.http import ProblemError, RequestModel, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL

TEXT_MAX = 1000
MAX_ATTRIBUTES = 100
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})

Schema = dict[str, AttributeDefinition]


class InvalidAttribute(ValueError):
    """A value does not fit the schema; the message names the key, never the value."""


def check_value(definition: AttributeDefinition, value: Any) -> Any:
    """The value if it fits its definition (InvalidAttribute otherwise)."""
    key, kind = definition.key, definition.type
    if kind == "text" and isinstance(value, str) and len(value) <= TEXT_MAX:
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "number" and is_number and math.isfinite(value):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str) and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    if kind == "list" and isinstance(value, str) and value in (definition.options or []):
        return value
    expected = {
        "text": f"text of at most {TEXT_MAX} characters",
        "number": "a number",
        "boolean": "true or false",
        "date": "a date as YYYY-MM-DD",
        "list": "one of the attribute's options",
    }[kind]
    raise InvalidAttribute(f"attribute {key!r} must be {expected}")


def parse_text(definition: AttributeDefinition, text: str) -> Any:
    """A CSV cell read as the attribute's type, then checked."""
    kind = definition.type
    value: Any = text
    if kind == "number":
        try:
            value = int(text) if re.fullmatch(r"[+-]?\d{1,15}", text) else float(text)
        except ValueError:
            value = text  # check_value rejects it with the usual message
    elif kind == "boolean":
        lowered = text.strip().lower()
        value = True if lowered in _TRUE else False if lowered in _FALSE else text
    return check_value(definition, value)


def apply_changes(
    current: dict[str, Any], changes: dict[str, Any], schema: Schema
) -> dict[str, Any]:
    """`current` with `changes` applied (null removes a key), validated; undefined keys drop."""
    merged = visible(current, schema)
    for key, value in changes.items():
        definition = schema.get(key)
        if definition is None:
            raise InvalidAttribute(f"unknown attribute {key!r}" if _KEY.fullmatch(key) else
                                   "unknown attribute")  # fmt: skip
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = check_value(definition, value)
    return merged


def visible(values: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """The values that fit the schema as it is now."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        definition = schema.get(key)
        if definition is None:
            continue
        try:
            shown[key] = check_value(definition, value)
        except InvalidAttribute:
            continue
    return shown


def seal(cipher: FieldCipher, tenant_id: UUID, values: dict[str, Any]) -> bytes | None:
    """Ciphertext of an attribute object (None when empty)."""
    if not values:
        return None
    return cipher.encrypt(orjson.dumps(values), tenant_id=tenant_id, field=ATTRIBUTES_FIELD)


def unseal(cipher: FieldCipher, tenant_id: UUID, sealed: bytes | None) -> dict[str, Any]:
    """The stored attribute object ({} when none)."""
    if sealed is None:
        return {}
    values = orjson.loads(cipher.decrypt(sealed, tenant_id=tenant_id, field=ATTRIBUTES_FIELD))
    return values if isinstance(values, dict) else {}


async def load_schema(conn: Any) -> Schema:
    """The tenant's attribute definitions by key."""
    return {d.key: d for d in await repo.list_definitions(conn)}


# HTTP ------------------------------------------------------------------------------------


class DefinitionIn(RequestModel):
    """Body of POST /api/v1/contact-attributes."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=100)
    type: AttributeType
    options: list[str] | None = Field(default=None, min_length=1, max_length=100)


class DefinitionPatch(RequestModel):
    """Body of PATCH /api/v1/contact-attributes/{key}: the type never changes."""

    label: str | None = Field(default=None, min_length=1, max_length=100)
    options: list[str] | None = Field(default=None, min_length=1, max_length=100)


def _options(options: list[str] | None) -> list[str] | None:
    if options is None:
        return None
    cleaned = list(dict.fromkeys(o.strip() for o in options))
    if any(not o or len(o) > 100 for o in cleaned):
        raise ProblemError(422, "Each option must be 1 to 100 characters", slug="invalid-options")
    return cleaned


def definition_json(d: AttributeDefinition) -> dict[str, Any]:
    """A definition as the API shows it."""
    return {
        "key": d.key,
        "label": d.label,
        "type": d.type,
        "options": d.options,
        "created_at": d.created_at.isoformat(),
    }


@responds(AttributeDefinitionsOut)
async def list_attributes(request: web.Request) -> web.Response:
    """`GET /api/v1/contact-attributes`: the schema (any role)."""
    identity = await caller(request)
    async with caller_transaction(request.app[DB_POOL], identity, readonly=True) as conn:
        definitions = await repo.list_definitions(conn)
    return web.json_response({"items": [definition_json(d) for d in definitions]})


@responds(AttributeDefinitionOut)
async def create_attribute(request: web.Request) -> web.Response:
    """`POST /api/v1/contact-attributes` (owner/admin): 201, or 409 for an existing key."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, DefinitionIn)
    options = _options(body.options)
    if (body.type == "list") != (options is not None):
        raise ProblemError(
            422, "Options are required for a list attribute and only for it", slug="invalid-options"
        )
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if len(await repo.list_definitions(conn)) >= MAX_ATTRIBUTES:
            raise ProblemError(422, "Too many attributes", slug="too-many-attributes")
        created = await repo.insert_definition(
            conn, identity.tenant_id, body.key, body.label.strip(), body.type, options
        )
        if created is None:
            raise ProblemError(409, "An attribute with this key exists", slug="attribute-exists")
        await audit(
            conn, request, "contacts.attribute.created", target_type="contact_attribute",
            target_id=body.key, details={"type": body.type},
        )  # fmt: skip
    return web.json_response(definition_json(created), status=201)


@responds(AttributeDefinitionOut)
async def update_attribute(request: web.Request) -> web.Response:
    """`PATCH /api/v1/contact-attributes/{key}` (owner/admin): label and list options."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, DefinitionPatch)
    key = request.match_info["key"]
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        current = (await load_schema(conn)).get(key)
        if current is None:
            raise ProblemError(404, "Attribute not found")
        if body.options is not None and current.type != "list":
            raise ProblemError(422, "Only list attributes have options", slug="invalid-options")
        label = body.label.strip() if body.label is not None else None
        updated = await repo.update_definition(conn, key, label, _options(body.options))
        if updated is None:
            raise ProblemError(404, "Attribute not found")
        await audit(
            conn, request, "contacts.attribute.updated", target_type="contact_attribute",
            target_id=key, changes=sorted(body.model_fields_set),
        )  # fmt: skip
    return web.json_response(definition_json(updated))


async def delete_attribute(request: web.Request) -> web.Response:
    """`DELETE /api/v1/contact-attributes/{key}` (owner/admin): 204; values are hidden."""
    identity = await caller(request, MANAGER_ROLES)
    key = request.match_info["key"]
    async with caller_transaction(request.app[DB_POOL], identity) as conn:
        if not await repo.delete_definition(conn, key):
            raise ProblemError(404, "Attribute not found")
        await audit(
            conn, request, "contacts.attribute.deleted", target_type="contact_attribute",
            target_id=key,
        )  # fmt: skip
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    """Mount the attribute schema API."""
    app.router.add_get("/api/v1/contact-attributes", list_attributes)
    app.router.add_post("/api/v1/contact-attributes", create_attribute)
    app.router.add_patch("/api/v1/contact-attributes/{key}", update_attribute)
    app.router.add_delete("/api/v1/contact-attributes/{key}", delete_attribute)
