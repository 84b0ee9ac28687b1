"""The chatflow service's dependencies, built by create_app and kept under typed app keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from aiohttp import web

from chatflow.engine import EngineDeps
from chatflow.ports import (
    AiAnswerer,
    HandOffAnswerer,
    HandOffLeadCapturer,
    HttpAnswer,
    LeadCapturer,
)
from majlis.crypto import FieldCipher, KeyRing
from majlis.http.keys import SETTINGS
from majlis.net import GuardedClient
from majlis.net.egress import tenant_target_client

ENGINE: web.AppKey[EngineDeps] = web.AppKey("chatflow_engine", EngineDeps)
ANSWERER: web.AppKey[AiAnswerer] = web.AppKey("chatflow_answerer", object)  # type: ignore[arg-type]
LEAD_CAPTURER: web.AppKey[LeadCapturer] = web.AppKey("chatflow_leads", object)  # type: ignore[arg-type]


class GuardedHttpCaller:
    """The http_request node's calls, through the SSRF-guarded client."""

    def __init__(self, client: GuardedClient) -> None:
        """Use this client."""
        self.client = client

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: str | None, timeout_ms: int
    ) -> HttpAnswer:
        """The response, its body parsed as JSON when it is JSON."""
        response = await self.client.request(
            method, url, headers=headers, data=body, timeout_s=timeout_ms / 1000
        )
        try:
            parsed = orjson.loads(response.body) if response.body else None
        except orjson.JSONDecodeError:
            parsed = None
        return HttpAnswer(response.status, parsed)


def utc_now() -> datetime:
    """The clock."""
    return datetime.now(UTC)


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The engine's dependencies; the AI ports default to handing off."""
    settings = app[SETTINGS]
    client = tenant_target_client(settings)
    app[ENGINE] = EngineDeps(
        cipher=FieldCipher(KeyRing.from_settings(settings)),
        answerer=app.get(ANSWERER) or HandOffAnswerer(),
        lead_capturer=app.get(LEAD_CAPTURER) or HandOffLeadCapturer(),
        http=GuardedHttpCaller(client),
        clock=utc_now,
    )
    yield
    await client.close()
