"""Composition root of the gateway: the dashboard's and the API's only door."""

from aiohttp import web

import majlis.events.gateway  # noqa: F401  (registers the events this service publishes)
from gateway import (  # noqa: F401  (importing a views module declares its routes)
    openapi,
    stream,
    views_auth,
    views_keys,
    views_numbers,
    views_platform,
    views_presence,
    views_sessions,
    views_settings,
    views_team,
    views_two_factor,
)
from gateway.consumers import live_events_ctx
from gateway.context import context_ctx, validate_settings
from gateway.edge import edge_middleware
from gateway.proxy import PROXY_PATH, PROXY_ROOT, forward
from gateway.routes import SPECS, add_routes
from gateway.static import dashboard_middleware
from gateway.stream_hub import close_streams, hub_ctx
from majlis.http import create_base_app
from majlis.http.resources import (
    bus_ctx,
    outbox_relay_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.settings import ServiceName, Settings


def create_app(settings: Settings) -> web.Application:
    """Build the gateway application; nothing connects until the app starts."""
    validate_settings(settings)
    app = create_base_app(settings, ServiceName.GATEWAY)
    app.middlewares.append(dashboard_middleware)  # before the edge: files need no identity
    app.middlewares.append(edge_middleware)
    app.cleanup_ctx.append(postgres_ctx("gateway"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(context_ctx)
    app.cleanup_ctx.append(hub_ctx)
    app.cleanup_ctx.append(live_events_ctx)
    app.on_shutdown.append(close_streams)
    app.cleanup_ctx.append(outbox_relay_ctx)
    add_routes(app, SPECS)
    # The catch-all forwarders come last: the router takes the first match.
    for path in (PROXY_ROOT, PROXY_PATH):
        app.router.add_route("*", path, forward)
    return app
