"""`majlis.http.responds_file` in the back ends' OpenAPI fragment: a file answer's media type,
declared on the handler and checked against the Content-Type its code sets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from majlis.http import json_response, responds_file
from majlis.http.csv_files import csv_download
from majlis.openapi_backends import build_fragment

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answer(handler: Handler, path: str = "/api/v1/things/export.csv") -> dict[str, Any]:
    app = web.Application()
    app.router.add_get(path, handler)
    operation = build_fragment([("things", app)])["paths"][path]["get"]
    answer: dict[str, Any] = operation["responses"]["200"]
    return answer


@responds_file("text/csv")
async def export_headers(request: web.Request) -> web.StreamResponse:
    """A CSV export that names its type in a header."""
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8"})
    await response.prepare(request)
    return response


@responds_file("text/csv")
async def export_attribute(request: web.Request) -> web.StreamResponse:
    """A CSV export that sets its type and charset as attributes."""
    response = web.StreamResponse()
    response.content_type, response.charset = "text/csv", "utf-8"
    await response.prepare(request)
    return response


@responds_file("text/csv")
async def export_shared(request: web.Request) -> web.StreamResponse:
    """A CSV export prepared by the shared helper."""
    return await csv_download(request, "things.csv")


@responds_file("*/*")
async def stored_file(request: web.Request) -> web.Response:
    """A stored file, served with its own type."""
    content_type = request.query.get("type", "application/octet-stream")
    return web.Response(body=b"%PDF-", content_type=content_type)


def test_a_declared_file_is_documented_as_a_string_or_as_bytes() -> None:
    for handler in (export_headers, export_attribute, export_shared):
        assert _answer(handler)["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert _answer(stored_file, "/api/v1/things/{thing_id}")["content"] == {
        "*/*": {"schema": {"type": "string", "format": "binary"}}
    }


def test_a_json_answer_needs_no_declaration() -> None:
    async def listing(request: web.Request) -> web.Response:
        return json_response({"items": []})

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="{}", content_type="application/json")

    for handler in (listing, plain):
        assert "content" not in _answer(handler, "/api/v1/things")


def test_a_file_answer_the_code_and_the_declaration_disagree_on_is_refused() -> None:
    async def undeclared(request: web.Request) -> web.StreamResponse:
        return web.StreamResponse(headers={"Content-Type": "text/csv"})

    @responds_file("text/csv")
    async def wrong_type(request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="application/pdf")

    @responds_file("text/csv")
    async def computed(request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type=request.query["type"])

    async def undeclared_shared(request: web.Request) -> web.StreamResponse:
        return await csv_download(request, "things.csv")

    with pytest.raises(ValueError, match=r"undeclared answers \['text/csv'\]"):
        _answer(undeclared)
    with pytest.raises(ValueError, match=r"undeclared_shared answers \['text/csv'\]"):
        _answer(undeclared_shared)
    with pytest.raises(ValueError, match="declares a text/csv file, but its code sets"):
        _answer(wrong_type)
    with pytest.raises(ValueError, match=r"\*/\*"):
        _answer(computed)
