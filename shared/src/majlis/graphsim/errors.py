"""Meta's error envelope: ``{"error": {message, type, code, error_data, fbtrace_id, ...}}``.

Message texts follow Meta's (``(#code) title``); clients must key on ``code``, never on text.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from aiohttp import web

ERROR_TITLES = {
    1: "An unknown error occurred",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    368: "Temporarily blocked for policies violations",
    2500: "Unknown path components",
    130429: "Rate limit hit",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131026: "Message undeliverable",
    131031: "Business Account locked",
    131047: "Re-engagement message",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
}


class SimError(Exception):
    """A Graph API error answer; raised anywhere in a handler, rendered by the middleware."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        status: int = 400,
        subcode: int | None = None,
        message: str | None = None,
        error_type: str = "OAuthException",
    ) -> None:
        self.code = code
        self.details = details
        self.status = status
        self.subcode = subcode
        self.message = message or f"(#{code}) {ERROR_TITLES.get(code, 'Error')}"
        self.error_type = error_type
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body Meta would answer with."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.status >= 500:
            error["is_transient"] = True
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    def response(self) -> web.Response:
        """The HTTP answer."""
        return web.json_response(self.body(), status=self.status)


def fbtrace_id() -> str:
    """An opaque trace id like Meta's (11 url-safe characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(8)).decode().rstrip("=")[:11]


def invalid(details: str) -> SimError:
    """Code 100: a missing, misspelt or out-of-range parameter."""
    return SimError(100, details)


def bad_token() -> SimError:
    """Code 190: the access token is missing, malformed or not valid for anything."""
    return SimError(190, status=401, message=ERROR_TITLES[190])


def no_such_object(node_id: str, method: str = "get") -> SimError:
    """Code 100/33: unknown id, or one the token may not see (Meta does not say which)."""
    return SimError(
        100,
        status=400,
        subcode=33,
        error_type="GraphMethodException",
        message=(
            f"Unsupported {method} request. Object with ID '{node_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation."
        ),
    )


def server_error() -> SimError:
    """An injected 5xx, as Meta answers when something on its side fails."""
    return SimError(1, status=500, message="An unknown error has occurred.")
