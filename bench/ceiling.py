"""The ceiling for webhook-ingest benchmarks: a bare aiohttp app that only checks the HMAC.

One process, uvloop, `web.run_app(access_log=None)`. Its single handler reads the raw body,
checks `X-Hub-Signature-256` (HMAC-SHA256 under `MAJLIS_META_APP_SECRET`) with
`hmac.compare_digest`, and answers 200, or 403 if the signature does not match. No parsing,
no routing, no broker: what the same load generator gets from aiohttp itself on this machine.

    python bench/ceiling.py PORT
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys

import uvloop
from aiohttp import web

PATH = "/webhooks/whatsapp"


def create_app(secret: bytes) -> web.Application:
    """The one-route app."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        received = request.headers.get("X-Hub-Signature-256", "")
        if not hmac.compare_digest(expected.encode(), received.encode()):
            return web.Response(status=403, text="invalid signature")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(PATH, receive)
    return app


def main() -> None:
    port = int(sys.argv[1])
    secret = os.environ["MAJLIS_META_APP_SECRET"].encode()
    web.run_app(
        create_app(secret),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
