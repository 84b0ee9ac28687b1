"""Purpose-bound keys derived from MAJLIS_GATEWAY_SECRET (HKDF-SHA256, one per use)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from majlis.settings import Settings


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"majlis-gateway|" + purpose.encode()
    ).derive(master)


@dataclass(frozen=True, repr=False)
class GatewayKeys:
    """One key per purpose, so a value made for one use never verifies for another."""

    csrf: bytes
    refresh: bytes
    api_key: bytes
    invite: bytes
    account: bytes
    recovery_codes: bytes
    sign_in_challenge: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayKeys:
        """Derive every key from the gateway secret (base64, 32 bytes)."""
        raw = settings.gateway_secret.get_secret_value()
        try:
            master = base64.b64decode(raw, validate=True)
        except ValueError:
            raise ValueError("MAJLIS_GATEWAY_SECRET must be base64") from None
        if len(master) != 32:
            raise ValueError("MAJLIS_GATEWAY_SECRET must decode to 32 bytes")
        return cls(
            *(
                _derive(master, p)
                for p in (
                    "csrf",
                    "refresh",
                    "api-key",
                    "invite",
                    "account",
                    "recovery-codes",
                    "sign-in-challenge",
                )
            )
        )

    def __repr__(self) -> str:
        return "GatewayKeys(<redacted>)"


def keyed_hash(key: bytes, value: str | bytes) -> bytes:
    """HMAC-SHA256: how secrets we hand out are stored (never retrievable)."""
    data = value.encode() if isinstance(value, str) else value
    return hmac.new(key, data, hashlib.sha256).digest()


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
