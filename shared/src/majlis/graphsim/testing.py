"""Test helpers: run the simulator on a free loopback port, and a webhook receiver that checks
signatures the way webhook-ingest must."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from majlis.graphsim.app import create_app
from majlis.graphsim.config import SimulatorConfig
from majlis.graphsim.state import Clock
from majlis.meta.signatures import SIGNATURE_HEADER, verify_webhook_signature


@asynccontextmanager
async def running_simulator(
    config: SimulatorConfig, *, clock: Clock | None = None
) -> AsyncIterator[str]:
    """Serve a simulator on 127.0.0.1 (a free port); yields its base URL."""
    app = create_app(config) if clock is None else create_app(config, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class WebhookReceiver:
    """A stand-in for webhook-ingest: verifies each POST's signature and records the payloads."""

    def __init__(self, app_secret: str, path: str = "/webhooks/whatsapp") -> None:
        self.app_secret = app_secret
        self.path = path
        self.payloads: list[dict[str, Any]] = []
        self.rejected = 0
        self.fail_next = 0  # answer 503 to this many valid POSTs (to exercise retries)
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Event()
        self.url = ""

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (a free port unless given); returns the webhook URL."""
        app = web.Application()
        app.router.add_post(self.path, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{self.path}"
        return self.url

    async def stop(self) -> None:
        """Stop listening (the simulator then sees a refused connection)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        if not verify_webhook_signature(body, signature, self.app_secret):
            self.rejected += 1
            return web.Response(status=403)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        self.payloads.append(json.loads(body))
        self._arrived.set()
        return web.Response(text="ok")

    def values(self, field: str = "messages") -> list[dict[str, Any]]:
        """Every change value of a field, in arrival order."""
        return [
            change["value"]
            for payload in self.payloads
            for entry in payload["entry"]
            for change in entry["changes"]
            if change["field"] == field
        ]

    def statuses(self, wamid: str | None = None) -> list[dict[str, Any]]:
        """Status items received, in arrival order (of one message if wamid given)."""
        items = [s for value in self.values() for s in value.get("statuses", [])]
        return [s for s in items if wamid is None or s["id"] == wamid]

    def messages(self) -> list[dict[str, Any]]:
        """Inbound message items received, in arrival order."""
        return [m for value in self.values() for m in value.get("messages", [])]

    async def wait_for(self, check: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until ``check()`` holds (rechecked on each arrival), at most ``within`` s."""
        async with asyncio.timeout(within):
            while True:
                self._arrived.clear()
                if check():
                    return
                await self._arrived.wait()
