"""Tenant API keys: created (shown once), listed, revoked."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from gateway import audit
from gateway.apikeys import SCOPES, new_key
from gateway.context import CONTEXT, as_caller
from gateway.models import ApiKeyBody
from gateway.response_models import ApiKeysOut, CreatedApiKeyOut
from gateway.routes import MANAGERS, route
from majlis.http import ProblemError, parse_json
from majlis.http.auth import IDENTITY, Identity
from majlis.plans import Limit, check_limit

_NOT_FOUND = ProblemError(404, "Not found")


@route(
    "POST",
    "/api/v1/api-keys",
    "Create an API key (its secret is shown once)",
    roles=MANAGERS,
    body=ApiKeyBody,
    response=CreatedApiKeyOut,
    tag="api-keys",
    responses={
        201: "The key, shown this once",
        403: "The plan's API key limit is reached (plan-limit-reached)",
        422: "Unknown scope",
    },
)
async def create_api_key(request: web.Request) -> web.Response:
    """A new key with the given scopes; only its keyed hash is stored."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, ApiKeyBody)
    unknown = sorted(set(body.scopes) - SCOPES)
    if unknown:
        raise ProblemError(
            422,
            "Unknown scope",
            slug="validation-error",
            errors=[{"field": "scopes", "message": f"unknown scope {s!r}"} for s in unknown],
            allowed_scopes=sorted(SCOPES),
        )
    created, key_hash = new_key(identity.tenant_id, ctx.keys.api_key)
    scopes = sorted(set(body.scopes))
    async with as_caller(ctx, identity) as conn:
        await check_limit(conn, identity.tenant_id, Limit.API_KEYS)
        row = await conn.fetchrow(
            "INSERT INTO api_keys (tenant_id, id, name, key_hash, key_hint, scopes, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at",
            identity.tenant_id,
            created.id,
            body.name,
            key_hash,
            created.hint,
            scopes,
            identity.principal_id,
        )
        await audit.by_caller(
            conn,
            request,
            "api_keys.created",
            target_type="api_key",
            target_id=created.id,
            details={"scopes": scopes},
        )
    assert row is not None
    response = web.json_response(
        {
            "id": str(created.id),
            "name": body.name,
            "scopes": scopes,
            "key": created.key,
            "hint": created.hint,
            "created_at": row["created_at"].isoformat(),
        },
        status=201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "GET",
    "/api/v1/api-keys",
    "API keys (never their secrets)",
    roles=MANAGERS,
    response=ApiKeysOut,
    tag="api-keys",
    responses={200: "Keys"},
)
async def list_api_keys(request: web.Request) -> web.Response:
    """Live keys with their hint, scopes and last use."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        rows = await conn.fetch(
            "SELECT id, name, key_hint, scopes, created_at, last_used_at FROM api_keys"
            " WHERE revoked_at IS NULL ORDER BY created_at"
        )
    return web.json_response(
        {
            "api_keys": [
                {
                    "id": str(r["id"]),
                    "name": r["name"],
                    "hint": r["key_hint"],
                    "scopes": r["scopes"],
                    "created_at": r["created_at"].isoformat(),
                    "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None,
                }
                for r in rows
            ]
        }
    )


@route(
    "DELETE",
    "/api/v1/api-keys/{key_id}",
    "Revoke an API key",
    roles=MANAGERS,
    tag="api-keys",
    responses={204: "Revoked", 404: "No such key"},
)
async def revoke_api_key(request: web.Request) -> web.Response:
    """The key stops working on the next request."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    try:
        key_id = UUID(request.match_info["key_id"])
    except ValueError:
        raise _NOT_FOUND from None
    async with as_caller(ctx, identity) as conn:
        status = await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
        )
        if status == "UPDATE 0":
            raise _NOT_FOUND
        await audit.by_caller(
            conn,
            request,
            "api_keys.revoked",
            target_type="api_key",
            target_id=key_id,
        )
    return web.Response(status=204)
