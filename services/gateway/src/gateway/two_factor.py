"""Two-factor sign-in: time-based one-time passwords (RFC 6238) and recovery codes.

Authenticator apps (Google Authenticator, Microsoft Authenticator, 1Password, Authy) all speak
the same dialect: HMAC-SHA1, 6 digits, 30-second steps, a base32 secret of 160 bits, handed
over as an ``otpauth://`` URI, usually scanned from a QR code. A code is accepted for the step
before and after the current one (clocks drift), and each step at most once per user: the
caller keeps the newest accepted step and passes it as ``after``.

Recovery codes are 10 random characters (about 50 bits) each, shown once, stored as a keyed
hash bound to the user, and used at most once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from typing import Literal
from urllib.parse import quote, urlencode
from uuid import UUID

import segno

from gateway import two_factor_repository as repo
from gateway.keys import keyed_hash
from gateway.repository import Conn, UserRow
from majlis.crypto import DecryptionError, FieldCipher

ISSUER = "Majlis"
DIGITS = 6
STEP_S = 30
DRIFT_STEPS = 1
SECRET_BYTES = 20
RECOVERY_CODES = 10
# No 0/o, 1/l/i: codes are read off paper and typed by hand.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10


def new_secret() -> str:
    """A new shared secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def code_at(secret: str, step: int) -> str:
    """The code for one time step (HOTP of the step counter, RFC 4226 §5.3)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    """The time step of `now` (Unix seconds; the clock if None)."""
    return int((time.time() if now is None else now) // STEP_S)


def normalise_totp(code: str) -> str | None:
    """Six digits from what the user typed (spaces allowed: "123 456"), else None."""
    digits = code.replace(" ", "")
    if len(digits) == DIGITS and digits.isascii() and digits.isdigit():
        return digits
    return None


def matching_step(secret: str, code: str, *, after: int, now: float | None = None) -> int | None:
    """The step whose code this is, within the drift and newer than `after`; else None.

    Every candidate is compared in constant time, so the answer's timing tells nothing.
    """
    digits = normalise_totp(code)
    if digits is None:
        return None
    found = None
    current = current_step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), digits) and step > after and found is None:
            found = step
    return found


def otpauth_uri(secret: str, account: str) -> str:
    """The provisioning URI an authenticator app reads (Key Uri Format)."""
    label = quote(f"{ISSUER}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_S,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def qr_code(uri: str) -> str:
    """The URI as a QR code, an SVG data URI the dashboard shows as an image."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def new_recovery_codes() -> list[str]:
    """Fresh recovery codes, formatted "abcde-fghjk" for reading."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery(code: str) -> str | None:
    """A recovery code as stored (lower case, no dashes or spaces), else None."""
    raw = code.replace("-", "").replace(" ", "").lower()
    if len(raw) == _RECOVERY_LENGTH and all(c in _RECOVERY_ALPHABET for c in raw):
        return raw
    return None


def recovery_hash(key: bytes, user_id: UUID, code: str) -> bytes:
    """How a recovery code is stored: keyed, and bound to its user."""
    return keyed_hash(key, f"{user_id}|{code}")


SECRET_FIELD = "user_two_factor.secret"  # noqa: S105  # a field name, not a secret
Method = Literal["authenticator", "recovery_code"]


async def verify_code(
    conn: Conn, cipher: FieldCipher, recovery_key: bytes, user: UserRow, code: str
) -> Method | None:
    """Spend the user's second factor: an authenticator code not used before, or an unused
    recovery code. None if it is neither (or two-factor sign-in is off). Runs in the user's
    tenant transaction of role 'system'; what it spends is spent when that commits."""
    factor = await repo.get(conn, user.id)
    if factor is None or factor.enabled_at is None:
        return None
    if normalise_totp(code) is not None:
        try:
            secret = cipher.decrypt_text(
                factor.secret_enc, tenant_id=user.tenant_id, field=SECRET_FIELD
            )
        except DecryptionError:
            return None
        step = matching_step(secret, code, after=factor.last_step)
        if step is not None and await repo.use_step(conn, user.id, step):
            return "authenticator"
        return None
    recovery = normalise_recovery(code)
    if recovery is not None and await repo.use_recovery_code(
        conn, user.id, recovery_hash(recovery_key, user.id, recovery)
    ):
        return "recovery_code"
    return None
