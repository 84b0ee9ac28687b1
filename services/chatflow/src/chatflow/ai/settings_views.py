"""`/api/v1/ai/settings`: the tenant's answerer (builtin, openai or gemini), model and key.

Owners and admins only. The key is write-only: stored encrypted, shown back as `has_key` and a
hint of at most its first three and last four characters ("sk-…abcd"), never logged, never in
an audit entry (which records that it changed, nothing more).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chatflow.ai import repository as repo
from chatflow.ai.answerer import DEFAULT_MIN_CONFIDENCE, KEY_FIELD
from chatflow.ai.response_models import AiSettingsOut
from chatflow.ai.service import AI_SERVICE
from chatflow.ai.web import MANAGER_ROLES, audit, caller
from majlis.http import ProblemError, parse_json, responds
from majlis.http.auth import caller_transaction

_HEADER_SAFE = re.compile(r"[!-~]+")


class AiSettingsBody(BaseModel):
    """PUT body: the whole settings; `api_key` only when it changes."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["builtin", "openai", "gemini"]
    model: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:/-]{1,100}$")
    api_key: SecretStr | None = Field(default=None, min_length=8, max_length=512)
    clear_api_key: bool = False
    min_confidence: float = Field(default=DEFAULT_MIN_CONFIDENCE, ge=0, le=1)
    # A tenth of a second at least: a provider call needs it, and tinier values became 0 in the
    # column (real), whose CHECK refused them with a 500 (found by schemathesis).
    timeout_seconds: float = Field(default=15.0, ge=0.1, le=60)

    @field_validator("api_key")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        # The key is sent in an HTTP header: printable ASCII without spaces, or the provider
        # call would fail on every answer (the HTTP client refuses control characters).
        # (Surrounding blanks are stripped by the view, as before; inner ones are refused.)
        if value is not None and not _HEADER_SAFE.fullmatch(value.get_secret_value().strip()):
            raise ValueError("the key may hold printable ASCII characters only, without spaces")
        return value


def key_hint(key: str) -> str:
    """A masked key: its first three and last four characters (less for a short key)."""
    if len(key) < 12:
        return "…"
    return f"{key[:3]}…{key[-4:]}"


def _public(row: Any) -> dict[str, Any]:
    if row is None:
        return {"provider": "builtin", "model": None, "has_key": False, "key_hint": None,
                "min_confidence": DEFAULT_MIN_CONFIDENCE, "timeout_seconds": 15.0,
                "updated_at": None}  # fmt: skip
    return {
        "provider": row["provider"],
        "model": row["model"],
        "has_key": row["api_key_enc"] is not None,
        "key_hint": row["api_key_hint"],
        "min_confidence": round(float(row["min_confidence"]), 4),
        "timeout_seconds": round(float(row["timeout_seconds"]), 3),
        "updated_at": row["updated_at"].isoformat(),
    }


@responds(AiSettingsOut)
async def get_ai_settings(request: web.Request) -> web.Response:
    """GET /api/v1/ai/settings (owner, admin)."""
    identity = await caller(request, MANAGER_ROLES)
    async with caller_transaction(request.app[AI_SERVICE].pool, identity, readonly=True) as conn:
        row = await repo.get_settings(conn)
    return web.json_response(_public(row))


@responds(AiSettingsOut)
async def put_ai_settings(request: web.Request) -> web.Response:
    """PUT /api/v1/ai/settings (owner, admin): a provider needs a key, now or stored before."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, AiSettingsBody)
    ai = request.app[AI_SERVICE]
    sealed = None
    if body.api_key is not None:
        key = body.api_key.get_secret_value().strip()
        if not key or any(c.isspace() for c in key):
            raise ProblemError(422, "The request body is not valid", errors=[
                {"field": "api_key", "message": "Not a key", "code": "invalid"}])  # fmt: skip
        sealed = (ai.cipher.encrypt(key, tenant_id=identity.tenant_id, field=KEY_FIELD),
                  key_hint(key))  # fmt: skip
    async with caller_transaction(ai.pool, identity) as conn:
        before = await repo.get_settings(conn)
        row = await repo.upsert_settings(
            conn, body.provider, body.model, sealed, body.clear_api_key and sealed is None,
            body.min_confidence, body.timeout_seconds,
        )  # fmt: skip
        if body.provider != "builtin" and row["api_key_enc"] is None:
            raise ProblemError(422, f"The {body.provider} provider needs an API key",
                               slug="api-key-required")  # fmt: skip
        changes = [
            name for name in ("provider", "model", "min_confidence", "timeout_seconds")
            if before is None or before[name] != row[name]
        ]  # fmt: skip
        if sealed is not None or (
            before is not None and before["api_key_enc"] != row["api_key_enc"]
        ):
            changes.append("api_key")
        await audit(conn, request, "ai.settings.updated", "ai_settings", None,
                    details={"provider": body.provider}, changes=changes)  # fmt: skip
    return web.json_response(_public(row))


def add_settings_routes(app: web.Application) -> None:
    """Register the AI settings routes."""
    app.router.add_get("/api/v1/ai/settings", get_ai_settings)
    app.router.add_put("/api/v1/ai/settings", put_ai_settings)
