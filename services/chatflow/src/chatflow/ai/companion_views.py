"""`/api/v1/companion`: the owner registers, confirms, reads and removes their personal number.

Owners only (admins, agents, viewers and API keys get 403; row-level security agrees). Each
owner has at most one number; registering again replaces it and sends a new code. The answer
to a registration says how the code went (`code_delivery`): `{"via": "template", "template",
"language"}` with an approved authentication template, else `{"via": "text", "hint"}` (free
text reaches the owner only if they wrote to the business number in the last 24 hours).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chatflow.ai.companion import (
    MAX_ATTEMPTS,
    PHONE_FIELD,
    code_hash,
    expiry,
    history_key,
    new_code,
    queue_code,
    verify,
)
from chatflow.ai.response_models import (
    CompanionRegisteredOut,
    CompanionStateOut,
    CompanionVerifiedOut,
)
from chatflow.ai.service import AI_SERVICE
from chatflow.ai.web import audit, caller
from majlis.crypto import InvalidPhoneNumber, normalise_phone
from majlis.http import ProblemError, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.tokens import Role

OWNER: frozenset[Role] = frozenset({"owner"})
_COLUMNS = "id, number_id, phone_enc, phone_bidx, code_hash, code_expires_at, attempts, verified_at"


class Registration(BaseModel):
    """PUT body: the owner's personal number and the business number that sends the code."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=5, max_length=40)
    number_id: UUID
    # The owner's dashboard language: an authentication template in it is preferred.
    language: Literal["en", "ar"] = "en"


class Confirmation(BaseModel):
    """POST .../verify body."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{6}$")


def _invalid(field: str, message: str) -> ProblemError:
    error = {"field": field, "message": message, "code": "invalid"}
    return ProblemError(422, "The request body is not valid", errors=[error])


def _hint(phone: str) -> str:
    return f"{phone[:4]}…{phone[-4:]}"


def _public(ai: Any, tenant_id: UUID, row: Any) -> dict[str, Any]:
    if row is None:
        return {"status": "none"}
    phone = ai.cipher.decrypt_text(row["phone_enc"], tenant_id=tenant_id, field=PHONE_FIELD)
    return {
        "status": "verified" if row["verified_at"] else "pending",
        "phone_hint": _hint(phone),
        "number_id": str(row["number_id"]),
        "code_expires_at": row["code_expires_at"].isoformat() if row["code_expires_at"] else None,
    }


@responds(CompanionRegisteredOut)
async def register_companion(request: web.Request) -> web.Response:
    """PUT /api/v1/companion (owner): store the number and send it a one-time code (again)."""
    identity = await caller(request, OWNER)
    body = await parse_json(request, Registration)
    try:
        phone = normalise_phone(body.phone, "AE")
    except InvalidPhoneNumber:
        raise _invalid("phone", "Not a phone number") from None
    ai, tenant_id, row_id, code = request.app[AI_SERVICE], identity.tenant_id, uuid4(), new_code()
    sealed = ai.cipher.encrypt(phone, tenant_id=tenant_id, field=PHONE_FIELD)
    bidx = ai.indexer.phone(phone, tenant_id=tenant_id)
    async with caller_transaction(ai.pool, identity) as conn:
        number = await conn.fetchval("SELECT 1 FROM whatsapp_numbers WHERE id = $1", body.number_id)
        if number is None:
            raise _invalid("number_id", "Unknown number")
        await conn.execute("DELETE FROM companion_numbers WHERE user_id = $1 OR phone_bidx = $2",
                           identity.principal_id, bidx)  # fmt: skip
        row = await conn.fetchrow(
            "INSERT INTO companion_numbers (tenant_id, id, user_id, number_id, phone_enc,"  # noqa: S608
            " phone_bidx, code_hash, code_expires_at) VALUES ((SELECT app.current_tenant_id()),"
            f" $1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
            row_id, identity.principal_id, body.number_id, sealed, bidx,
            code_hash(ai.indexer, tenant_id, row_id, code), expiry(),
        )  # fmt: skip
        delivery = await queue_code(conn, ai, tenant_id, body.number_id, phone, code, uuid4(),
                                    language=body.language)  # fmt: skip
        await audit(conn, request, "companion.registered", "companion", row_id,
                    details={"code_delivery": delivery.via})  # fmt: skip
    await ai.redis.delete(history_key(ai.redis_prefix, tenant_id, bidx))
    answer = {**_public(ai, tenant_id, row), "code_delivery": delivery.public()}
    return web.json_response(answer, status=202)


@responds(CompanionVerifiedOut)
async def verify_companion(request: web.Request) -> web.Response:
    """POST /api/v1/companion/verify (owner): confirm the code; limited tries, expiring."""
    identity = await caller(request, OWNER)
    body = await parse_json(request, Confirmation)
    ai, tenant_id = request.app[AI_SERVICE], identity.tenant_id
    async with caller_transaction(ai.pool, identity) as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS}, code_expires_at < now() AS is_expired"  # noqa: S608
            " FROM companion_numbers WHERE user_id = $1 FOR UPDATE", identity.principal_id,
        )  # fmt: skip
        if row is None or row["verified_at"] is not None:
            raise ProblemError(409, "No code is waiting for confirmation", slug="no-pending-code")
        if row["attempts"] >= MAX_ATTEMPTS or row["is_expired"]:
            raise ProblemError(410, "The code has expired or was tried too often; register again",
                               slug="code-expired")  # fmt: skip
        ok = verify(row["code_hash"], code_hash(ai.indexer, tenant_id, row["id"], body.code))
        updated = await conn.fetchrow(
            "UPDATE companion_numbers SET attempts = attempts + 1,"  # noqa: S608
            " verified_at = CASE WHEN $2 THEN now() END,"
            " code_hash = CASE WHEN $2 THEN NULL ELSE code_hash END,"
            " code_expires_at = CASE WHEN $2 THEN NULL ELSE code_expires_at END,"
            f" updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
            row["id"], ok,
        )  # fmt: skip
        assert updated is not None  # locked above
        await audit(conn, request, "companion.verified" if ok else "companion.verify_failed",
                    "companion", updated["id"])  # fmt: skip
    if not ok:
        left = MAX_ATTEMPTS - updated["attempts"]
        raise ProblemError(422, "The code is not right", slug="wrong-code", attempts_left=left)
    return web.json_response(_public(ai, tenant_id, updated))


@responds(CompanionStateOut)
async def get_companion(request: web.Request) -> web.Response:
    """GET /api/v1/companion (owner): the caller's registration."""
    identity = await caller(request, OWNER)
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM companion_numbers WHERE user_id = $1",  # noqa: S608
            identity.principal_id,
        )
    return web.json_response(_public(ai, identity.tenant_id, row))


async def delete_companion(request: web.Request) -> web.Response:
    """DELETE /api/v1/companion (owner): forget the number and its history."""
    identity = await caller(request, OWNER)
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity) as conn:
        row = await conn.fetchrow(
            "DELETE FROM companion_numbers WHERE user_id = $1 RETURNING id, phone_bidx",
            identity.principal_id,
        )
        if row is None:
            raise ProblemError(404, "No companion number")
        await audit(conn, request, "companion.removed", "companion", row["id"])
    await ai.redis.delete(history_key(ai.redis_prefix, identity.tenant_id, row["phone_bidx"]))
    return web.Response(status=204)


def add_companion_routes(app: web.Application) -> None:
    """Register the companion routes."""
    app.router.add_get("/api/v1/companion", get_companion)
    app.router.add_put("/api/v1/companion", register_companion)
    app.router.add_delete("/api/v1/companion", delete_companion)
    app.router.add_post("/api/v1/companion/verify", verify_companion)
