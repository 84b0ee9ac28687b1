"""Tenant API keys: ``mjk_<tenant hex>_<key id hex>_<secret>``, stored as a keyed hash.

The tenant and key id in the key let us verify it inside that tenant's transaction without
any cross-tenant lookup; only HMAC(secret) is stored, so a database reader cannot use a key.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from gateway.keys import b64url, keyed_hash
from majlis.db import tenant_transaction
from majlis.http.auth import Identity, unauthorized

if TYPE_CHECKING:
    from gateway.context import GatewayContext

PREFIX = "mjk_"
_FORMAT = re.compile(r"^mjk_([0-9a-f]{32})_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
SCOPES = frozenset(
    {
        "conversations:read",
        "conversations:write",
        "contacts:read",
        "contacts:write",
        "messages:send",
        "templates:read",
        "templates:write",
        "campaigns:read",
        "campaigns:write",
        "flows:read",
        "flows:write",
        "leads:read",
        "analytics:read",
        "audit:read",
        "webhooks:manage",
        "webhooks:read",
        "webhooks:write",
    }
)
# Scopes that grant others: `webhooks:manage`, the scope keys were issued with before the
# webhooks API split it into read and write, keeps granting both.
IMPLIED_SCOPES: dict[str, frozenset[str]] = {
    "webhooks:manage": frozenset({"webhooks:read", "webhooks:write"}),
}


def grants(scopes: frozenset[str] | set[str], needed: str) -> bool:
    """Whether a key holding `scopes` may use an endpoint that needs `needed`."""
    return needed in scopes or any(needed in IMPLIED_SCOPES.get(s, ()) for s in scopes)


@dataclass(frozen=True, slots=True)
class NewKey:
    id: UUID
    key: str
    hint: str


def is_api_key(token: str) -> bool:
    """Whether a bearer credential is one of our API keys (not a JWT)."""
    return token.startswith(PREFIX)


def new_key(tenant_id: UUID, api_key: bytes) -> tuple[NewKey, bytes]:
    """A fresh key and the hash to store."""
    key_id = uuid.uuid4()
    secret = b64url(secrets.token_bytes(32))
    key = f"{PREFIX}{tenant_id.hex}_{key_id.hex}_{secret}"
    return NewKey(key_id, key, f"{PREFIX}…{secret[-4:]}"), keyed_hash(api_key, secret)


async def authenticate_api_key(ctx: GatewayContext, token: str) -> Identity:
    """The identity of a valid, unrevoked key; 401 otherwise (same answer for every failure)."""
    match = _FORMAT.match(token)
    if not match:
        raise unauthorized("Invalid API key")
    tenant_id, key_id, secret = UUID(match.group(1)), UUID(match.group(2)), match.group(3)
    async with tenant_transaction(ctx.pool, tenant_id, "system") as conn:
        row = await _key_row(conn, key_id)
        if (
            row is None
            or row["revoked_at"] is not None
            or not hmac.compare_digest(row["key_hash"], keyed_hash(ctx.keys.api_key, secret))
        ):
            raise unauthorized("Invalid API key")
        # Stamp use at most once a minute so a busy key does not write on every request.
        await conn.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = $1"
            " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            key_id,
        )
    return Identity("api_key", tenant_id, key_id, "agent", None, frozenset(row["scopes"]))


async def _key_row(conn: asyncpg.Connection[Any], key_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT key_hash, scopes, revoked_at FROM api_keys WHERE id = $1", key_id
    )
