"""Standard Webhooks signatures: `whsec_` secrets and `v1,<base64 HMAC-SHA256>` signatures.

The signed content is ``f"{webhook_id}.{timestamp}.{body}"``; the key is the base64-decoded
part of the secret after `whsec_`. During a rotation both secrets sign and the header holds
both signatures, space-separated, so a receiver with either secret accepts the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from uuid import UUID

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's prefix, not a secret
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
USER_AGENT = "Majlis-Webhooks/1.0 (+https://majlis.dev/docs/webhooks)"


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def webhook_id(delivery_id: UUID) -> str:
    """The `webhook-id` of a delivery: stable across its retries and redeliveries."""
    return f"msg_{delivery_id.hex}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a message under one secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per active secret, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def headers(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of a delivery attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
