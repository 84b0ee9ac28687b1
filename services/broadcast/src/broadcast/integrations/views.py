"""`/api/v1/webhooks`: endpoints (secret shown once), rotation, delivery log, redelivery, test.

Owners and admins manage endpoints; agents and viewers get 403. API keys (forwarded by the
gateway as role agent, with their scopes) need `webhooks:read` to read and `webhooks:write`
to change anything. Every query runs in `caller_transaction` (RLS): another tenant's endpoint
or delivery is not found (404), exactly like an unknown id.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import Field, field_validator

from broadcast.integrations import catalog, targets
from broadcast.integrations import repository as repo
from broadcast.integrations.consumers import (
    PREVIOUS_SECRET_FIELD,
    SECRET_FIELD,
    URL_FIELD,
    WebhookDeps,
    endpoint_url,
    enqueue,
)
from broadcast.integrations.signing import new_secret
from broadcast.response_models import (
    WebhookDeliveryOut,
    WebhookEndpointOut,
    WebhookEndpointSecretOut,
    WebhookEventTypesOut,
    WebhookTestOut,
)
from majlis.crypto import FieldCipher, KeyRing
from majlis.crypto.reencrypt import seal_plaintext
from majlis.events import make_envelope
from majlis.events.broadcast import BroadcastAuditRecorded
from majlis.http import Page, ProblemError, parse_json, responds
from majlis.http.audit_events import caller_audit_event
from majlis.http.auth import IDENTITY, Identity, caller_transaction
from majlis.http.keys import SETTINGS
from majlis.http.requests import RequestModel
from majlis.http.resources import AUTHENTICATOR, DB_POOL
from majlis.messaging import add_to_outbox
from majlis.plans import Limit, check_limit

WEBHOOKS: web.AppKey[WebhookDeps] = web.AppKey("webhooks_deps", WebhookDeps)
MANAGERS = frozenset({"owner", "admin"})
PAGE_DEFAULT, PAGE_MAX = 25, 100
OVERLAP_DEFAULT_S, OVERLAP_MAX_S = 86_400, 7 * 86_400


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """The views' and worker's dependencies; endpoint URLs stored before 0019 sealed first."""
    deps = WebhookDeps(app[DB_POOL], FieldCipher(KeyRing.from_settings(app[SETTINGS])))
    # Idempotent and cheap once done (one indexed query per tenant with endpoints); a replica
    # racing another seals each row once (the UPDATE is conditional on the plaintext).
    await seal_plaintext(deps.pool, deps.cipher, await repo.webhook_tenants(deps.pool))
    app[WEBHOOKS] = deps
    yield


class CreateEndpoint(RequestModel):
    """POST /api/v1/webhooks."""

    url: str = Field(min_length=8, max_length=targets.MAX_URL_LENGTH)
    description: str = Field(default="", max_length=500)
    event_types: list[catalog.WebhookEventType] = Field(min_length=1, max_length=32)
    enabled: bool = True

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class UpdateEndpoint(RequestModel):
    """PATCH /api/v1/webhooks/{id}: any subset of the fields."""

    url: str | None = Field(default=None, min_length=8, max_length=targets.MAX_URL_LENGTH)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[catalog.WebhookEventType] | None = Field(
        default=None, min_length=1, max_length=32
    )
    enabled: bool | None = None

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted(set(value))


class RotateSecret(RequestModel):
    """POST /api/v1/webhooks/{id}/rotate-secret: how long the old secret keeps signing."""

    overlap_seconds: int = Field(default=OVERLAP_DEFAULT_S, ge=0, le=OVERLAP_MAX_S)


async def caller(request: web.Request, *, write: bool) -> Identity:
    """Owners and admins; API keys with webhooks:read (reads) or webhooks:write."""
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    if identity.kind == "api_key":
        # write implies read; webhooks:manage (an earlier name of the scope) grants both.
        granted = {"webhooks:write", "webhooks:manage"} | (set() if write else {"webhooks:read"})
        if not granted & identity.scopes:
            raise ProblemError(403, "This API key lacks the scope", slug="forbidden-scope")
        return identity
    if identity.role not in MANAGERS:
        raise ProblemError(403, "Your role does not allow this", slug="forbidden-role")
    return identity


def _uuid(request: web.Request, name: str, what: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, f"{what} not found") from None


def _not_found() -> ProblemError:
    return ProblemError(404, "Webhook endpoint not found")


def _bad_query(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid query parameters",
        slug="invalid-query",
        errors=[{"field": field, "message": message, "code": "invalid"}],
    )


def _page(request: web.Request) -> tuple[tuple[datetime, UUID] | None, int]:
    query = request.query
    limit_text = query.get("limit", str(PAGE_DEFAULT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_MAX:
        raise _bad_query("limit", f"Must be 1 to {PAGE_MAX}")
    after = None
    if "after" in query:
        try:
            raw = base64.urlsafe_b64decode(query["after"].encode()).decode()
            stamp, _, ident = raw.partition("|")
            after = (datetime.fromisoformat(stamp), UUID(ident))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _bad_query("after", "Not a valid cursor") from None
    return after, int(limit_text)


def _next_cursor(rows: list[Any], limit: int) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return base64.urlsafe_b64encode(
        f"{last['created_at'].isoformat()}|{last['id']}".encode()
    ).decode()


def public_endpoint(cipher: FieldCipher, tenant_id: UUID, row: Any) -> dict[str, Any]:
    """An endpoint as the API shows it: its URL (the tenant's own), never a secret."""
    expires = row["previous_secret_expires_at"]
    return {
        "id": str(row["id"]),
        "url": endpoint_url(cipher, tenant_id, row),
        "description": row["description"],
        "event_types": list(row["event_types"]),
        "enabled": row["enabled"],
        "disabled_reason": row["disabled_reason"],
        "previous_secret_expires_at": expires.isoformat() if expires else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def public_delivery(row: Any) -> dict[str, Any]:
    """One line of the delivery log."""

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": str(row["id"]),
        "endpoint_id": str(row["endpoint_id"]),
        "event_type": row["event_type"],
        "state": row["state"],
        "attempt": row["attempt"],
        "status_code": row["status_code"],
        "latency_ms": row["latency_ms"],
        "error_class": row["error_class"],
        "next_attempt_at": stamp(row["next_attempt_at"]) if row["state"] == "pending" else None,
        "last_attempt_at": stamp(row["last_attempt_at"]),
        "created_at": row["created_at"].isoformat(),
    }


async def _check_url(request: web.Request, url: str) -> None:
    found = await targets.problems(url, request.app[SETTINGS])
    if found:
        raise ProblemError(
            422,
            "The endpoint URL may not be used",
            slug="webhook-url-refused",
            errors=[{"field": "url", "message": why, "code": "refused"} for why in found],
        )


async def _audit(
    conn: Any, request: web.Request, action: str, endpoint_id: UUID, **details: Any
) -> None:
    event = caller_audit_event(
        BroadcastAuditRecorded, request, action,
        target_type="webhook_endpoint", target_id=endpoint_id, details=details,
    )  # fmt: skip
    await add_to_outbox(conn, make_envelope(event, tenant_id=request[IDENTITY].tenant_id))


@responds(WebhookEndpointSecretOut)
async def create_endpoint(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks → 201 with the secret, shown this once."""
    identity = await caller(request, write=True)
    body = await parse_json(request, CreateEndpoint)
    await _check_url(request, body.url)
    deps, endpoint_id, secret = request.app[WEBHOOKS], uuid4(), new_secret()
    sealed = deps.cipher.encrypt(secret, tenant_id=identity.tenant_id, field=SECRET_FIELD)
    url_enc = deps.cipher.encrypt(body.url, tenant_id=identity.tenant_id, field=URL_FIELD)
    created_by = identity.principal_id if identity.kind == "session" else None
    async with caller_transaction(deps.pool, identity) as conn:
        await check_limit(conn, identity.tenant_id, Limit.WEBHOOK_ENDPOINTS)
        row = await repo.insert_endpoint(
            conn, endpoint_id, url_enc, body.description, body.event_types, body.enabled,
            sealed, created_by,
        )  # fmt: skip
        await _audit(conn, request, "webhooks.endpoint.created", endpoint_id,
                     event_types=body.event_types)  # fmt: skip
    shown = public_endpoint(deps.cipher, identity.tenant_id, row)
    return web.json_response({**shown, "secret": secret}, status=201)


@responds(Page[WebhookEndpointOut])
async def list_endpoints(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks?limit=&after=: newest first."""
    identity = await caller(request, write=False)
    after, limit = _page(request)
    deps = request.app[WEBHOOKS]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        rows = await repo.list_endpoints(conn, after, limit + 1)
    return web.json_response(
        {
            "items": [public_endpoint(deps.cipher, identity.tenant_id, r) for r in rows[:limit]],
            "next_cursor": _next_cursor(rows, limit),
        }
    )


@responds(WebhookEndpointOut)
async def get_endpoint(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks/{id}."""
    identity = await caller(request, write=False)
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        row = await repo.get_endpoint(conn, wanted)
    if row is None:
        raise _not_found()
    return web.json_response(public_endpoint(deps.cipher, identity.tenant_id, row))


@responds(WebhookEndpointOut)
async def update_endpoint(request: web.Request) -> web.Response:
    """PATCH /api/v1/webhooks/{id}: url, description, event types, enabled."""
    identity = await caller(request, write=True)
    body = await parse_json(request, UpdateEndpoint)
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    tenant_id = identity.tenant_id
    if body.url is not None:
        await _check_url(request, body.url)
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.get_endpoint(conn, wanted, lock=True)
        if row is None:
            raise _not_found()
        enabled = row["enabled"] if body.enabled is None else body.enabled
        url = body.url if body.url is not None else endpoint_url(deps.cipher, tenant_id, row)
        updated = await repo.update_endpoint(
            conn, wanted,
            deps.cipher.encrypt(url, tenant_id=tenant_id, field=URL_FIELD),
            body.description if body.description is not None else row["description"],
            body.event_types if body.event_types is not None else list(row["event_types"]),
            enabled,
            reset_failures=enabled and not row["enabled"],
        )  # fmt: skip
        changes = sorted(body.model_dump(exclude_none=True))
        await _audit(conn, request, "webhooks.endpoint.updated", wanted, fields=changes)
    return web.json_response(public_endpoint(deps.cipher, tenant_id, updated))


async def delete_endpoint(request: web.Request) -> web.Response:
    """DELETE /api/v1/webhooks/{id} → 204 (its deliveries go too)."""
    identity = await caller(request, write=True)
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    async with caller_transaction(deps.pool, identity) as conn:
        if not await repo.delete_endpoint(conn, wanted):
            raise _not_found()
        await _audit(conn, request, "webhooks.endpoint.deleted", wanted)
    return web.Response(status=204)


@responds(WebhookEndpointSecretOut)
async def rotate_secret(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks/{id}/rotate-secret → the new secret, shown this once; the old
    one keeps signing for `overlap_seconds` (default 24 h, at most 7 days)."""
    identity = await caller(request, write=True)
    body = await parse_json(request, RotateSecret) if request.can_read_body else RotateSecret()
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    tenant_id, cipher, secret = identity.tenant_id, deps.cipher, new_secret()
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.get_endpoint(conn, wanted, lock=True)
        if row is None:
            raise _not_found()
        old = cipher.decrypt_text(row["secret_enc"], tenant_id=tenant_id, field=SECRET_FIELD)
        rotated = await repo.rotate_secret(
            conn, wanted,
            cipher.encrypt(secret, tenant_id=tenant_id, field=SECRET_FIELD),
            cipher.encrypt(old, tenant_id=tenant_id, field=PREVIOUS_SECRET_FIELD),
            body.overlap_seconds,
        )  # fmt: skip
        await _audit(conn, request, "webhooks.secret.rotated", wanted,
                     overlap_seconds=body.overlap_seconds)  # fmt: skip
    return web.json_response({**public_endpoint(cipher, tenant_id, rotated), "secret": secret})


@responds(Page[WebhookDeliveryOut])
async def list_deliveries(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks/{id}/deliveries?limit=&after=: the delivery log, newest first."""
    identity = await caller(request, write=False)
    after, limit = _page(request)
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        if await repo.get_endpoint(conn, wanted) is None:
            raise _not_found()
        rows = await repo.list_deliveries(conn, wanted, after, limit + 1)
    return web.json_response(
        {
            "items": [public_delivery(r) for r in rows[:limit]],
            "next_cursor": _next_cursor(rows, limit),
        }
    )


@responds(WebhookDeliveryOut)
async def redeliver(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver → 202, sent again now
    (same webhook-id, a fresh retry schedule)."""
    identity = await caller(request, write=True)
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    delivery_id = _uuid(request, "delivery_id", "Delivery")
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.redeliver(conn, wanted, delivery_id)
        if row is None:
            raise ProblemError(404, "Delivery not found")
        await _audit(conn, request, "webhooks.delivery.redelivered", wanted,
                     delivery_id=str(delivery_id))  # fmt: skip
    return web.json_response(public_delivery(row), status=202)


@responds(WebhookTestOut)
async def send_test(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks/{id}/test → 202: a `webhook.test` event queued for the endpoint."""
    identity = await caller(request, write=True)
    deps, wanted = request.app[WEBHOOKS], _uuid(request, "endpoint_id", "Webhook endpoint")
    source_id = uuid4()
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.get_endpoint(conn, wanted)
        if row is None:
            raise _not_found()
        if not row["enabled"]:
            raise ProblemError(409, "The endpoint is disabled", slug="webhook-disabled")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        delivery_id = await enqueue(
            conn, deps.cipher, identity.tenant_id, wanted, source_id, catalog.TEST_EVENT,
            now, {"endpoint_id": str(wanted), "message": "A test event from Majlis"},
        )  # fmt: skip
    return web.json_response({"delivery_id": str(delivery_id)}, status=202)


@responds(WebhookEventTypesOut)
async def event_types(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks/event-types: the event types an endpoint may subscribe to (the
    dashboard's checkboxes), and the type of the "send test" event."""
    await caller(request, write=False)
    body = {"items": list(catalog.EVENT_TYPES), "test_event": catalog.TEST_EVENT}
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    """Register the webhook routes."""
    base, one = "/api/v1/webhooks", "/api/v1/webhooks/{endpoint_id}"
    app.router.add_post(base, create_endpoint)
    app.router.add_get(base, list_endpoints)
    app.router.add_get(f"{base}/event-types", event_types)  # before {endpoint_id}
    app.router.add_get(one, get_endpoint)
    app.router.add_patch(one, update_endpoint)
    app.router.add_delete(one, delete_endpoint)
    app.router.add_post(f"{one}/rotate-secret", rotate_secret)
    app.router.add_get(f"{one}/deliveries", list_deliveries)
    app.router.add_post(f"{one}/deliveries/{{delivery_id}}/redeliver", redeliver)
    app.router.add_post(f"{one}/test", send_test)
