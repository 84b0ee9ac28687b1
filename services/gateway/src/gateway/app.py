"""Composition root of the gateway service: identity, sessions, rate limits and the API edge."""

from aiohttp import web

from gateway.consumers import HANDLERS
from majlis.http import create_base_app
from majlis.http.resources import (
    bus_ctx,
    consumer_ctx,
    outbox_relay_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.settings import ServiceName, Settings


def create_app(settings: Settings) -> web.Application:
    """Build the gateway application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.GATEWAY)
    app.cleanup_ctx.append(postgres_ctx("gateway"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(consumer_ctx("gateway.live", "gateway", HANDLERS))
    app.cleanup_ctx.append(outbox_relay_ctx)
    return app
