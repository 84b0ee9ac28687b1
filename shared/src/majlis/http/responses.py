"""JSON answers: orjson writes UUIDs and aware datetimes (RFC 3339) itself, several times faster
than the standard library's encoder on a page of 25 conversations."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON answer (UUIDs and aware datetimes as ISO 8601 strings)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
