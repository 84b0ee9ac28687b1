"""CSRF double-submit tokens, signed and bound to the sign-in session.

The token is ``<nonce>.<HMAC(csrf key, session id | nonce)>``: it is set as a readable cookie
and must come back in the ``X-CSRF-Token`` header. A token from another session fails the
signature check even if an attacker could plant both cookie and header.
"""

from __future__ import annotations

import hmac
import secrets
from uuid import UUID

from aiohttp import web

from gateway.keys import b64url, keyed_hash
from majlis.http.problems import ProblemError

CSRF_COOKIE = "__Host-majlis_csrf"
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def make_csrf_token(key: bytes, session_id: UUID) -> str:
    """A fresh token bound to one session."""
    nonce = b64url(secrets.token_bytes(18))
    return f"{nonce}.{b64url(keyed_hash(key, f'{session_id}|{nonce}'))}"


def _valid_for(key: bytes, session_id: UUID, token: str) -> bool:
    nonce, _, signature = token.partition(".")
    if not nonce or not signature:
        return False
    expected = b64url(keyed_hash(key, f"{session_id}|{nonce}"))
    return hmac.compare_digest(expected.encode(), signature.encode())


def check_csrf(request: web.Request, key: bytes, session_id: UUID | None) -> None:
    """403 unless the header matches the cookie and is signed for this session."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise ProblemError(403, "Cross-site request refused", slug="csrf-failed")
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if (
        session_id is None
        or not header
        or not hmac.compare_digest(header.encode(), cookie.encode())
        or not _valid_for(key, session_id, header)
    ):
        raise ProblemError(403, "Missing or invalid CSRF token", slug="csrf-failed")
