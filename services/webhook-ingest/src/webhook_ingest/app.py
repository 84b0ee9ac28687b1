"""Composition root of the webhook-ingest service.

Meta's only door: verifies, routes and publishes webhooks.
"""

from aiohttp import web

from majlis.http import create_base_app
from majlis.http.resources import (
    bus_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.settings import ServiceName, Settings


def create_app(settings: Settings) -> web.Application:
    """Build the webhook-ingest application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.WEBHOOK_INGEST)
    app.cleanup_ctx.append(postgres_ctx("webhook_ingest"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)

    return app
