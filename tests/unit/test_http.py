"""The HTTP pieces every service shares: problem details, limits, request ids, health."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from majlis.http import ProblemError, RequestModel, create_base_app, parse_json
from majlis.http.health import READINESS_CHECKS
from majlis.settings import ServiceName, Settings


class Item(RequestModel):
    name: str
    count: int


async def create_item(request: web.Request) -> web.Response:
    item = await parse_json(request, Item)
    return web.json_response({"name": item.name, "count": item.count}, status=201)


async def conflict(_request: web.Request) -> web.Response:
    raise ProblemError(409, "Already exists", slug="duplicate-thing", detail="try another")


async def crash(_request: web.Request) -> web.Response:
    raise RuntimeError("secret internals: password=hunter2")


@pytest.fixture
def ready() -> dict[str, bool]:
    return {"value": True}


@pytest.fixture
async def client(ready: dict[str, bool]) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_base_app(Settings(max_body_bytes=2048), ServiceName.INBOX)
    app.router.add_post("/items", create_item)
    app.router.add_get("/conflict", conflict)
    app.router.add_get("/crash", crash)

    async def check() -> bool:
        return ready["value"]

    app[READINESS_CHECKS]["fake"] = check
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_valid_body(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.post("/items", json={"name": "a", "count": 1})
    assert response.status == 201


async def test_unknown_field_rejected(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.post(
        "/items", json={"name": "a", "count": 1, "tenant_id": "zz-evil-zz"}
    )
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == "https://majlis.dev/problems/validation-error"
    assert body["errors"][0]["field"] == "tenant_id"
    assert "zz-evil-zz" not in str(body)  # input is never echoed


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'{"name": "a", "count": "many"}', "application/json"),
    ],
)
async def test_bad_bodies_are_422(
    client: TestClient[web.Request, web.Application], payload: bytes, content_type: str
) -> None:
    response = await client.post("/items", data=payload, headers={"Content-Type": content_type})
    assert response.status == 422
    assert (await response.json())["status"] == 422


async def test_wrong_media_type(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.post("/items", data=b"name=a", headers={"Content-Type": "text/plain"})
    assert response.status == 415


async def test_body_too_large(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.post("/items", json={"name": "a" * 5000, "count": 1})
    assert response.status == 413
    assert response.content_type == "application/problem+json"


async def test_problem_error_and_404_405(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/conflict")
    assert response.status == 409
    body = await response.json()
    assert body == {
        "type": "https://majlis.dev/problems/duplicate-thing",
        "title": "Already exists",
        "status": 409,
        "detail": "try another",
        "instance": "/conflict",
    }
    assert (await client.get("/nowhere")).status == 404
    response = await client.delete("/items")
    assert response.status == 405
    assert "POST" in response.headers["Allow"]


async def test_crash_is_a_generic_500(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.get("/crash")
    assert response.status == 500
    text = await response.text()
    for leak in ("hunter2", "Traceback", "RuntimeError"):
        assert leak not in text


async def test_request_id(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc12345-trace"})
    assert response.headers["X-Request-ID"] == "abc12345-trace"
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert response.headers["X-Request-ID"] != "bad id <script>"
    assert len(response.headers["X-Request-ID"]) == 32


async def test_health_readiness_metrics(
    client: TestClient[web.Request, web.Application], ready: dict[str, bool]
) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    ready["value"] = False
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"] == {"fake": False}
    metrics = await (await client.get("/metrics")).text()
    assert "majlis_http_requests_total" in metrics
    assert 'route="/readyz"' in metrics


async def test_request_metrics_count_exactly_and_unusual_methods_share_one_label(
    client: TestClient[web.Request, web.Application],
) -> None:
    """Each request is counted once by method, route and status; a method outside the usual
    seven (WebDAV's and others HTTP parsers accept) is "other": clients choose methods, and
    they must not choose the metrics' labels."""
    for _ in range(3):
        assert (await client.get("/healthz")).status == 200
    invented = ["PROPFIND", "PURGE", "MKCOL", "LOCK", "UNLOCK"]
    for method in invented:
        assert (await client.request(method, "/items")).status == 405
    metrics = await (await client.get("/metrics")).text()
    counted = "majlis_http_requests_total{"  # labels come sorted by name
    assert f'{counted}method="GET",route="/healthz",service="inbox",status="200"}} 3.0' in metrics
    # A 405 matches no route of its own.
    other = 'method="other",route="unmatched",service="inbox",status="405"'
    assert f"{counted}{other}}} 5.0" in metrics
    assert not any(method in metrics for method in invented)
    timed = 'majlis_http_request_duration_seconds_count{route="/healthz",service="inbox"} 3.0'
    assert timed in metrics


async def crash_on_nul(_request: web.Request) -> web.Response:
    raise asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00')


async def test_a_character_the_database_cannot_store_is_422() -> None:
    """Regression (schemathesis): a NUL in an invite's email reached PostgreSQL, which refuses
    it in text and jsonb; the failed statement was a 500."""
    app = create_base_app(Settings(), ServiceName.INBOX)
    app.router.add_post("/nul", crash_on_nul)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/nul", json={})
        assert response.status == 422
        body = await response.json()
        assert body["type"].endswith("/unstorable-character")
        assert "0x00" not in str(body)
