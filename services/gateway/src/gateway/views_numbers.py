"""A tenant's WhatsApp numbers. The access token is checked against the Graph API, encrypted
at rest (bound to the tenant and column) and never returned, logged or published."""

from __future__ import annotations

import re
import uuid
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from gateway import audit
from gateway.context import CONTEXT, GatewayContext, as_caller
from gateway.models import NumberBody, NumberPatchBody
from gateway.response_models import NumberOut, NumbersOut
from gateway.routes import ALL_ROLES, MANAGERS, route
from majlis.db import tenant_for_phone_number_id
from majlis.http import ProblemError, parse_json
from majlis.http.auth import IDENTITY, Identity
from majlis.logging import get_logger
from majlis.meta import GraphApiError, GraphUnavailable
from majlis.plans import Limit, check_limit

log = get_logger(__name__)
TOKEN_FIELD = "whatsapp_numbers.access_token"  # noqa: S105  (a column name)
_NOT_FOUND = ProblemError(404, "Not found")


_COLUMNS = (
    "id, phone_number_id, waba_id, display_number, status, created_at, updated_at,"
    " messaging_tier, quality_rating, quality_event, quality_updated_at, account_event,"
    " account_updated_at, token_invalid_at, sending_blocked_at, sending_blocked_reason,"
    # Meta's restrictions in force now, and their end ('infinity': none given; migration 0027).
    " coalesce(restricted_bulk_until > now(), false) AS campaigns_held,"
    " CASE WHEN restricted_bulk_until < 'infinity' THEN restricted_bulk_until END"
    " AS campaigns_held_until,"
    " coalesce(restricted_replies_until > now(), false) AS replies_held,"
    " CASE WHEN restricted_replies_until < 'infinity' THEN restricted_replies_until END"
    " AS replies_held_until,"
    # The rate sends are paced at, and since when the number is known to be shared with the
    # WhatsApp Business app (which holds it to 20/s; migration 0035).
    " send_rate, coexistence_since"
)
_QUALITY = re.compile(r"^[A-Z_]{1,32}$")


def _paused(row: asyncpg.Record) -> tuple[str | None, str | None]:
    """Why and since when the number's sends are held (migrations 0009 and 0026), if they are:
    a token Meta refused comes first (only a new token ends it)."""
    if row["token_invalid_at"] is not None:
        return "token-invalid", row["token_invalid_at"].isoformat()
    if row["sending_blocked_at"] is not None:
        return row["sending_blocked_reason"], row["sending_blocked_at"].isoformat()
    return None, None


def _restrictions(row: asyncpg.Record) -> list[dict[str, Any]]:
    """Meta's restrictions of the account in force now: which sends they hold, and until when
    (None: Meta gave no end)."""
    held = []
    for kind in ("campaigns", "replies"):
        if row[f"{kind}_held"]:
            until = row[f"{kind}_held_until"]
            held.append({"kind": kind, "until": until.isoformat() if until else None})
    return held


def _number_json(row: asyncpg.Record) -> dict[str, Any]:
    updated, account = row["quality_updated_at"], row["account_updated_at"]
    shared = row["coexistence_since"]
    paused, paused_at = _paused(row)
    return {
        "id": str(row["id"]),
        "phone_number_id": row["phone_number_id"],
        "waba_id": row["waba_id"],
        "display_number": row["display_number"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        # Meta's quality rating (GREEN, YELLOW, RED, UNKNOWN) as read with the token, the
        # messaging limit, and the last phone_number_quality_update event and its time.
        "quality_rating": row["quality_rating"],
        "messaging_tier": row["messaging_tier"],
        "quality_event": row["quality_event"],
        "quality_updated_at": updated.isoformat() if updated is not None else None,
        # The last account_update of the number's WhatsApp Business Account (a restriction,
        # a ban, the partner removed, ...) and its time.
        "account_event": row["account_event"],
        "account_updated_at": account.isoformat() if account is not None else None,
        # Sends to this number are held, not failed: Meta refused its token (token-invalid)
        # or blocked its account (account-disabled, account-locked, policy-block).
        "sending_paused": paused,
        "sending_paused_at": paused_at,
        # Meta restricts the account for a time: campaigns (starting conversations) and/or
        # replies (answering customers) are held until then.
        "restrictions": _restrictions(row),
        "send_rate": row["send_rate"],
        "shared_with_business_app_since": shared.isoformat() if shared is not None else None,
    }


def _rating(answer: dict[str, Any]) -> str | None:
    value = answer.get("quality_rating")
    return value if isinstance(value, str) and _QUALITY.fullmatch(value) else None


async def _check_token(
    ctx: GatewayContext, phone_number_id: str, waba_id: str, token: str
) -> str | None:
    """Meta must accept the token for this number, and list the number under this WhatsApp
    Business Account, before we store it; returns the number's rating.

    The account matters: webhooks about templates and the account carry only its id, and
    route to the one tenant that has numbers in it. A tenant naming another business's
    account would otherwise make those webhooks ambiguous (dropped) or its own."""
    try:
        answer = await ctx.graph.get_phone_number(phone_number_id, token)
        numbers = await ctx.graph.waba_phone_number_ids(waba_id, token)
    except GraphUnavailable:
        raise ProblemError(
            503,
            "Meta could not be reached to check the token",
            slug="graph-unavailable",
            headers={"Retry-After": "10"},
        ) from None
    except GraphApiError as error:
        log.info("numbers.token_rejected", code=error.code)
        raise ProblemError(
            422,
            "Meta did not accept this access token for this number",
            slug="token-rejected",
            meta_code=error.code,
        ) from None
    if phone_number_id not in numbers:
        log.info("numbers.waba_mismatch")
        raise ProblemError(
            422,
            "Meta does not list this number under this WhatsApp Business Account",
            slug="waba-mismatch",
        )
    return _rating(answer)


def _number_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["number_id"])
    except ValueError:
        raise _NOT_FOUND from None


@route(
    "POST",
    "/api/v1/numbers",
    "Connect a WhatsApp number",
    roles=MANAGERS,
    body=NumberBody,
    response=NumberOut,
    tag="numbers",
    responses={
        201: "Connected",
        403: "The plan's number limit is reached (plan-limit-reached)",
        409: "Already connected",
        422: "Token rejected by Meta, or the number is not in that WhatsApp Business Account",
    },
)
async def create_number(request: web.Request) -> web.Response:
    """Check the token with Meta, then store the number with its token encrypted."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, NumberBody)
    rating = await _check_token(ctx, body.phone_number_id, body.waba_id, body.access_token)
    owner = await tenant_for_phone_number_id(ctx.pool, body.phone_number_id)
    if owner is not None and owner != identity.tenant_id:
        # Only reachable with a token Meta accepted for this number: no enumeration.
        raise ProblemError(409, "This number is connected to another account", slug="number-taken")
    number_id = uuid.uuid4()
    token_enc = ctx.cipher.encrypt(
        body.access_token, tenant_id=identity.tenant_id, field=TOKEN_FIELD
    )
    async with as_caller(ctx, identity) as conn:
        await check_limit(conn, identity.tenant_id, Limit.NUMBERS)
        try:
            row = await conn.fetchrow(
                "INSERT INTO whatsapp_numbers (tenant_id, id, phone_number_id, waba_id,"  # noqa: S608
                " display_number, access_token_enc, quality_rating)"
                f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
                identity.tenant_id,
                number_id,
                body.phone_number_id,
                body.waba_id,
                body.display_number,
                token_enc,
                rating,
            )
        except asyncpg.UniqueViolationError:
            raise ProblemError(
                409, "This number is already connected", slug="number-exists"
            ) from None
        await audit.by_caller(
            conn,
            request,
            "numbers.created",
            target_type="whatsapp_number",
            target_id=number_id,
            details={"phone_number_id": body.phone_number_id},
        )
    assert row is not None  # INSERT ... RETURNING always returns the row
    return web.json_response(_number_json(row), status=201)


@route(
    "GET",
    "/api/v1/numbers",
    "The business's WhatsApp numbers",
    roles=ALL_ROLES,
    response=NumbersOut,
    tag="numbers",
    responses={200: "Numbers (never their tokens)"},
)
async def list_numbers(request: web.Request) -> web.Response:
    """Every number of the tenant, without tokens."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM whatsapp_numbers ORDER BY created_at, id"  # noqa: S608
        )
    return web.json_response({"numbers": [_number_json(r) for r in rows]})


@route(
    "PATCH",
    "/api/v1/numbers/{number_id}",
    "Update a number (name, status, token; resume sending after Meta's block)",
    roles=MANAGERS,
    body=NumberPatchBody,
    response=NumberOut,
    tag="numbers",
    responses={
        200: "Updated",
        403: "Re-enabling would pass the plan's number limit (plan-limit-reached)",
        404: "No such number",
        422: "Token rejected by Meta, or the number is not in that WhatsApp Business Account",
    },
)
async def update_number(request: web.Request) -> web.Response:
    """Change the display number, enable/disable it, replace its token (checked first), or
    resume sending after Meta lifted a block (if Meta still refuses, the next send blocks the
    number again)."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    number_id = _number_id(request)
    body = await parse_json(request, NumberPatchBody)
    async with as_caller(ctx, identity, readonly=True) as conn:
        current = await conn.fetchrow(
            "SELECT phone_number_id, waba_id FROM whatsapp_numbers WHERE id = $1", number_id
        )
    if current is None:
        raise _NOT_FOUND
    token_enc = None
    rating = None
    if body.access_token is not None:
        rating = await _check_token(
            ctx, current["phone_number_id"], current["waba_id"], body.access_token
        )
        token_enc = ctx.cipher.encrypt(
            body.access_token, tenant_id=identity.tenant_id, field=TOKEN_FIELD
        )
    async with as_caller(ctx, identity) as conn:
        if body.status == "active":
            # Re-enabling a disabled number counts against the plan like connecting one.
            was = await conn.fetchval(
                "SELECT status FROM whatsapp_numbers WHERE id = $1 FOR UPDATE", number_id
            )
            if was == "disabled":
                await check_limit(conn, identity.tenant_id, Limit.NUMBERS)
        row = await conn.fetchrow(
            "UPDATE whatsapp_numbers SET display_number = coalesce($2, display_number),"  # noqa: S608
            " status = coalesce($3, status), access_token_enc = coalesce($4, access_token_enc),"
            " quality_rating = coalesce($5, quality_rating),"
            " sending_blocked_at = CASE WHEN $6 THEN NULL ELSE sending_blocked_at END,"
            " sending_blocked_reason = CASE WHEN $6 THEN NULL ELSE sending_blocked_reason END,"
            " restricted_bulk_until = CASE WHEN $6 THEN NULL ELSE restricted_bulk_until END,"
            " restricted_replies_until = CASE WHEN $6 THEN NULL"
            " ELSE restricted_replies_until END,"
            f" updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
            number_id,
            body.display_number,
            body.status,
            token_enc,
            rating,
            body.resume_sending is True,
        )
        if row is None:
            raise _NOT_FOUND
        changed = sorted(k for k, v in body.model_dump().items() if v is not None)
        await audit.by_caller(
            conn,
            request,
            "numbers.updated",
            target_type="whatsapp_number",
            target_id=number_id,
            details={"changed": changed},
        )
    return web.json_response(_number_json(row))


@route(
    "DELETE",
    "/api/v1/numbers/{number_id}",
    "Disconnect a number",
    roles=MANAGERS,
    tag="numbers",
    responses={
        204: "Removed",
        404: "No such number",
        409: "The number has conversations; disable it instead",
    },
)
async def delete_number(request: web.Request) -> web.Response:
    """Remove a number that has no conversations; one with history can only be disabled."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    number_id = _number_id(request)
    async with as_caller(ctx, identity) as conn:
        # Deleting would cascade to conversations and messages: stored history is never lost.
        if await conn.fetchval(
            "SELECT 1 FROM conversations WHERE number_id = $1 LIMIT 1", number_id
        ):
            raise ProblemError(
                409, "This number has conversations; disable it instead", slug="number-in-use"
            )
        status = await conn.execute("DELETE FROM whatsapp_numbers WHERE id = $1", number_id)
        if status == "DELETE 0":
            raise _NOT_FOUND
        await audit.by_caller(
            conn,
            request,
            "numbers.deleted",
            target_type="whatsapp_number",
            target_id=number_id,
        )
    return web.Response(status=204)
