"""Composition root of the broadcast service.

Templates, campaigns, and the dispatcher that sends to Meta.
"""

from aiohttp import web

from broadcast.consumers import HANDLERS
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
    """Build the broadcast application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.BROADCAST)
    app.cleanup_ctx.append(postgres_ctx("broadcast"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(consumer_ctx("broadcast.commands", "broadcast", HANDLERS))
    app.cleanup_ctx.append(outbox_relay_ctx)
    return app
