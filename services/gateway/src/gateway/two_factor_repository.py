"""Two-factor rows (migration 0030): called in tenant transactions of role 'system' only, which
the tables' policies require. Each change that must happen once is one conditional UPDATE, so
two requests racing with one code cannot both use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from gateway.repository import Conn


@dataclass(frozen=True, slots=True)
class SecondFactor:
    secret_enc: bytes
    enabled_at: datetime | None
    setup_expires_at: datetime | None
    last_step: int


async def get(conn: Conn, user_id: UUID) -> SecondFactor | None:
    """The user's authenticator secret, set up or on; None if neither."""
    row = await conn.fetchrow(
        "SELECT secret_enc, enabled_at, setup_expires_at, last_step FROM user_two_factor"
        " WHERE id = $1",
        user_id,
    )
    if row is None:
        return None
    return SecondFactor(
        row["secret_enc"], row["enabled_at"], row["setup_expires_at"], row["last_step"]
    )


async def start_setup(
    conn: Conn, tenant_id: UUID, user_id: UUID, secret_enc: bytes, expires_at: datetime
) -> bool:
    """Keep a new secret awaiting confirmation (replacing an unconfirmed one); False if two-factor
    sign-in is already on."""
    row = await conn.fetchrow(
        "INSERT INTO user_two_factor (tenant_id, id, secret_enc, setup_expires_at)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (tenant_id, id) DO UPDATE"
        " SET secret_enc = EXCLUDED.secret_enc, setup_expires_at = EXCLUDED.setup_expires_at,"
        "     last_step = 0, created_at = now()"
        " WHERE user_two_factor.enabled_at IS NULL"
        " RETURNING 1",
        tenant_id,
        user_id,
        secret_enc,
        expires_at,
    )
    return row is not None


async def enable(conn: Conn, user_id: UUID, step: int) -> bool:
    """Turn the confirmed setup on (the confirming code's step is used up); False if there is no
    setup, or it expired, or it is on already."""
    row = await conn.fetchrow(
        "UPDATE user_two_factor SET enabled_at = now(), setup_expires_at = NULL, last_step = $2"
        " WHERE id = $1 AND enabled_at IS NULL AND setup_expires_at > now() RETURNING 1",
        user_id,
        step,
    )
    if row is None:
        return False
    await conn.execute("UPDATE users SET two_factor_enabled_at = now() WHERE id = $1", user_id)
    return True


async def use_step(conn: Conn, user_id: UUID, step: int) -> bool:
    """Accept a code of this time step once: False if it (or a later one) was used before."""
    row = await conn.fetchrow(
        "UPDATE user_two_factor SET last_step = $2"
        " WHERE id = $1 AND enabled_at IS NOT NULL AND last_step < $2 RETURNING 1",
        user_id,
        step,
    )
    return row is not None


async def replace_recovery_codes(
    conn: Conn, tenant_id: UUID, user_id: UUID, hashes: Sequence[bytes]
) -> None:
    """The user's recovery codes are these (the old ones stop working)."""
    await conn.execute("DELETE FROM user_recovery_codes WHERE user_id = $1", user_id)
    await conn.executemany(
        "INSERT INTO user_recovery_codes (tenant_id, user_id, code_hash) VALUES ($1, $2, $3)",
        [(tenant_id, user_id, h) for h in hashes],
    )


async def use_recovery_code(conn: Conn, user_id: UUID, code_hash: bytes) -> bool:
    """Spend one recovery code; False if it is not the user's or was used."""
    row = await conn.fetchrow(
        "UPDATE user_recovery_codes SET used_at = now()"
        " WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING 1",
        user_id,
        code_hash,
    )
    return row is not None


async def recovery_codes_left(conn: Conn, user_id: UUID) -> int:
    """Unused recovery codes of the user."""
    left: int = await conn.fetchval(
        "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    return left


async def remove(conn: Conn, user_id: UUID) -> bool:
    """Turn two-factor sign-in off: secret and codes gone. False if it was not on."""
    was_on = await conn.fetchval(
        "UPDATE users SET two_factor_enabled_at = NULL"
        " WHERE id = $1 AND two_factor_enabled_at IS NOT NULL RETURNING true",
        user_id,
    )
    await conn.execute("DELETE FROM user_two_factor WHERE id = $1", user_id)
    await conn.execute("DELETE FROM user_recovery_codes WHERE user_id = $1", user_id)
    return bool(was_on)
