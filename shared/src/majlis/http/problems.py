"""Errors as RFC 9457 problem details (``application/problem+json``) with stable type URIs."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROBLEM_BASE = "https://majlis.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# Stable type slugs by HTTP status, for errors raised without a more specific slug.
_DEFAULT_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


class ProblemError(Exception):
    """Raise from a view or use case to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        slug: str | None = None,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.slug = slug or _DEFAULT_SLUGS.get(status, "error")
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    status: int,
    title: str,
    *,
    slug: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    """A problem-details response; ``type`` is stable and documented per slug."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or _DEFAULT_SLUGS.get(status, "error")),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def from_problem_error(error: ProblemError, *, instance: str | None = None) -> web.Response:
    """Render a raised ProblemError."""
    return problem_response(
        error.status,
        error.title,
        slug=error.slug,
        detail=error.detail,
        instance=instance,
        headers=error.headers,
        **error.extensions,
    )
