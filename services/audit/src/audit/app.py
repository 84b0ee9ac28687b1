"""Composition root of the audit service: the only writer of the tamper-evident audit log."""

from aiohttp import web

from audit.consumers import HANDLERS
from majlis.http import create_base_app
from majlis.http.resources import (
    bus_ctx,
    consumer_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.settings import ServiceName, Settings


def create_app(settings: Settings) -> web.Application:
    """Build the audit application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.AUDIT)
    app.cleanup_ctx.append(postgres_ctx("audit"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(consumer_ctx("audit.events", "audit", HANDLERS))

    return app
