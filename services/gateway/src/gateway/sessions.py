"""Sign-in sessions as refresh-token families, with rotation and reuse detection.

A refresh token is ``<tenant hex>.<token id hex>.<secret>``; only HMAC(secret) is stored.
Using a token marks it used and creates its successor, whose secret is derived from the
used one (HMAC under the refresh key), so a second request with the same token inside the
grace window gets the *same* successor without us ever storing a secret. Presenting a used
token after the grace window means it was stolen or replayed: the whole family is revoked.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias
from uuid import UUID

import asyncpg

from gateway.keys import GatewayKeys, b64url, keyed_hash
from majlis.http.revocation import RevocationStore

Conn: TypeAlias = "asyncpg.Connection[Any]"
_COOKIE = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class RefreshCookie:
    tenant_id: UUID
    token_id: UUID
    secret: str

    def value(self) -> str:
        """The cookie value."""
        return f"{self.tenant_id.hex}.{self.token_id.hex}.{self.secret}"


def parse_refresh_cookie(value: str | None) -> RefreshCookie | None:
    """A well-formed refresh cookie, or None."""
    match = _COOKIE.match(value or "")
    if not match:
        return None
    return RefreshCookie(UUID(match.group(1)), UUID(match.group(2)), match.group(3))


def _successor_secret(keys: GatewayKeys, secret: str) -> str:
    return b64url(keyed_hash(keys.refresh, b"successor|" + secret.encode()))


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: Literal["rotated", "grace", "reuse", "invalid"]
    session_id: UUID | None = None
    user_id: UUID | None = None
    cookie: RefreshCookie | None = None


async def _insert_token(
    conn: Conn,
    keys: GatewayKeys,
    *,
    tenant_id: UUID,
    token_id: UUID,
    session_id: UUID,
    secret: str,
    parent_id: UUID | None,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (tenant_id, id, session_id, token_hash, parent_id, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        token_id,
        session_id,
        keyed_hash(keys.refresh, secret),
        parent_id,
        expires_at,
    )


async def start_session(
    conn: Conn,
    keys: GatewayKeys,
    *,
    tenant_id: UUID,
    user_id: UUID,
    now: datetime,
    lifetime: timedelta,
    client_ip: str | None = None,
    device: str | None = None,
) -> tuple[UUID, RefreshCookie]:
    """A new family with its first refresh token (and where it signed in from)."""
    session_id, token_id = uuid.uuid4(), uuid.uuid4()
    secret = b64url(secrets.token_bytes(32))
    await conn.execute(
        "INSERT INTO sessions (tenant_id, id, user_id, created_at, last_used_at, expires_at,"
        " client_ip, device) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        tenant_id,
        session_id,
        user_id,
        now,
        now + lifetime,
        client_ip,
        device,
    )
    await _insert_token(
        conn,
        keys,
        tenant_id=tenant_id,
        token_id=token_id,
        session_id=session_id,
        secret=secret,
        parent_id=None,
        expires_at=now + lifetime,
    )
    return session_id, RefreshCookie(tenant_id, token_id, secret)


async def rotate(
    conn: Conn,
    keys: GatewayKeys,
    cookie: RefreshCookie,
    *,
    now: datetime,
    grace: timedelta,
    client_ip: str | None = None,
) -> Rotation:
    """Use a refresh token once: rotate it, honour the grace window, or detect reuse."""
    row = await conn.fetchrow(
        "SELECT t.token_hash, t.used_at, t.successor_id, t.expires_at, t.session_id,"
        " s.user_id, s.revoked_at, s.expires_at AS session_expires_at"
        " FROM refresh_tokens t JOIN sessions s"
        " ON s.tenant_id = t.tenant_id AND s.id = t.session_id"
        " WHERE t.id = $1 FOR UPDATE OF t, s",
        cookie.token_id,
    )
    if row is None or not hmac.compare_digest(
        row["token_hash"], keyed_hash(keys.refresh, cookie.secret)
    ):
        return Rotation("invalid")
    session_id, user_id = row["session_id"], row["user_id"]
    if row["revoked_at"] is not None or now >= row["session_expires_at"]:
        return Rotation("invalid", session_id, user_id)
    if row["used_at"] is not None:
        if now - row["used_at"] <= grace and row["successor_id"] is not None:
            successor = RefreshCookie(
                cookie.tenant_id, row["successor_id"], _successor_secret(keys, cookie.secret)
            )
            return Rotation("grace", session_id, user_id, successor)
        await revoke_session(conn, session_id, "reuse_detected")
        return Rotation("reuse", session_id, user_id)
    if now >= row["expires_at"]:
        return Rotation("invalid", session_id, user_id)
    successor_id = uuid.uuid4()
    secret = _successor_secret(keys, cookie.secret)
    await _insert_token(
        conn,
        keys,
        tenant_id=cookie.tenant_id,
        token_id=successor_id,
        session_id=session_id,
        secret=secret,
        parent_id=cookie.token_id,
        expires_at=row["session_expires_at"],
    )
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = $2, successor_id = $3 WHERE id = $1",
        cookie.token_id,
        now,
        successor_id,
    )
    await conn.execute(
        "UPDATE sessions SET last_used_at = $2, client_ip = coalesce($3, client_ip) WHERE id = $1",
        session_id,
        now,
        client_ip,
    )
    return Rotation(
        "rotated", session_id, user_id, RefreshCookie(cookie.tenant_id, successor_id, secret)
    )


async def revoke_session(conn: Conn, session_id: UUID, reason: str) -> bool:
    """Revoke one family; False if it was already revoked."""
    status = await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2"
        " WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason,
    )
    return bool(status != "UPDATE 0")


async def sign_out_everywhere(
    conn: Conn, revocations: RevocationStore, user_id: UUID, reason: str
) -> list[UUID]:
    """End every sign-in of a user: each refresh family (in the caller's transaction) and every
    access token issued so far. Redis first: if it cannot record the epoch, the transaction
    fails and nothing changes. Returns the revoked families' ids."""
    await revocations.revoke_user_tokens(user_id)
    return await revoke_user_sessions(conn, user_id, reason)


async def revoke_user_sessions(conn: Conn, user_id: UUID, reason: str) -> list[UUID]:
    """Revoke every live family of a user; returns their ids."""
    rows = await conn.fetch(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2"
        " WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
        user_id,
        reason,
    )
    return [r["id"] for r in rows]


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    client_ip: str | None
    device: str | None


async def live_sessions(conn: Conn, user_id: UUID, now: datetime) -> list[LiveSession]:
    """The user's sign-ins that still work, the most recently used first."""
    rows = await conn.fetch(
        "SELECT id, created_at, last_used_at, expires_at, client_ip, device FROM sessions"
        " WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2"
        " ORDER BY last_used_at DESC, id",
        user_id,
        now,
    )
    return [LiveSession(*row.values()) for row in rows]


async def revoke_user_session(conn: Conn, user_id: UUID, session_id: UUID, reason: str) -> bool:
    """Revoke one live family of this user; False if it is not theirs or not live."""
    status = await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3"
        " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        session_id,
        user_id,
        reason,
    )
    return bool(status != "UPDATE 0")
