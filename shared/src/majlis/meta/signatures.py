"""Webhook signatures: ``X-Hub-Signature-256`` is HMAC-SHA256 of the raw body, app secret as key.

Always sign and verify the bytes exactly as sent: re-serialising parsed JSON changes escaping
(Meta escapes non-ASCII as ``\\uXXXX``) and breaks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import string

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_LENGTH = hashlib.sha256().digest_size * 2
_HEX_DIGITS = frozenset(string.hexdigits)


def sign_webhook(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for this exact body: ``sha256=<hex>``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{_PREFIX}{digest}"


def verify_webhook_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """True only if ``header`` is a well-formed signature of ``body``; never raises."""
    # An empty secret would make any attacker able to sign: treat it as "cannot verify".
    if not app_secret or not isinstance(header, str) or not header.startswith(_PREFIX):
        return False
    received = header[len(_PREFIX) :]
    # Meta sends lower-case hex; either case of the hex digits is accepted, nothing else.
    if len(received) != _HEX_LENGTH or not _HEX_DIGITS.issuperset(received):
        return False
    try:
        expected = hmac.new(app_secret.encode(), bytes(body), hashlib.sha256).hexdigest()
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, received.lower())
