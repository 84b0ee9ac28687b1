"""Composition root of the chatflow service.

Flows, the AI bot, lead capture and the owner companion.
"""

from aiohttp import web

from chatflow import views_flows, views_runs
from chatflow.ai import add_ai_routes, ai_ctx
from chatflow.ai.service import AI_SERVICE
from chatflow.ai_ports import ServiceAnswerer, ServiceLeadCapturer
from chatflow.consumers import bind_handlers
from chatflow.deps import ANSWERER, ENGINE, LEAD_CAPTURER, engine_ctx
from chatflow.timers import timers_ctx
from majlis.crypto import KeyRing
from majlis.http import create_base_app
from majlis.http.resources import (
    DB_POOL,
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
    KeyRing.from_settings(settings)  # a key misconfiguration fails here, at start
    app.cleanup_ctx.append(postgres_ctx("chatflow"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(authenticator_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(ai_ctx)
    # The engine's ai_answer and ai_lead_capture nodes use the AI service started above.
    app[ANSWERER] = ServiceAnswerer(app)
    app[LEAD_CAPTURER] = ServiceLeadCapturer(app)
    app.cleanup_ctx.append(engine_ctx)
    # Consumption starts only after every dependency above is in place.
    handlers = bind_handlers(lambda: app[DB_POOL], lambda: app[ENGINE], lambda: app[AI_SERVICE])
    app.cleanup_ctx.append(consumer_ctx("chatflow.events", "chatflow", handlers))
    app.cleanup_ctx.append(outbox_relay_ctx)
    app.cleanup_ctx.append(timers_ctx)
    views_flows.add_routes(app)
    views_runs.add_routes(app)
    add_ai_routes(app)
    return app
