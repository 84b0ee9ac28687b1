"""Composition root of the chatflow service.

Flows, the AI bot, lead capture and the owner companion.
"""

from aiohttp import web

from chatflow.ai import add_ai_routes, ai_ctx
from chatflow.consumers import HANDLERS
from majlis.http import create_base_app
from majlis.http.resources import (
    authenticator_ctx,
    bus_ctx,
    consumer_ctx,
    outbox_relay_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.settings import ServiceName, Settings


def create_app(settings: Settings) -> web.Application:
    """Build the chatflow application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.CHATFLOW)
    app.cleanup_ctx.append(postgres_ctx("chatflow"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(authenticator_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(ai_ctx)
    app.cleanup_ctx.append(consumer_ctx("chatflow.events", "chatflow", HANDLERS))
    app.cleanup_ctx.append(outbox_relay_ctx)
    add_ai_routes(app)
    return app
