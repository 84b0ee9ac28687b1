"""Composition root of the inbox service: contacts, conversations and messages."""

from aiohttp import web

from inbox.consumers import HANDLERS
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
    """Build the inbox application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.INBOX)
    app.cleanup_ctx.append(postgres_ctx("inbox"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(consumer_ctx("inbox.events", "inbox", HANDLERS))
    app.cleanup_ctx.append(outbox_relay_ctx)
    return app
