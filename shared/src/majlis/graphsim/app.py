"""``create_app(config)``: the simulator's composition root and its route table."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from majlis.graphsim import admin, media_views, messages, nodes, template_views
from majlis.graphsim.config import SimulatorConfig
from majlis.graphsim.context import SIMULATOR, Simulator
from majlis.graphsim.errors import SimError, server_error
from majlis.graphsim.media import MediaStore
from majlis.graphsim.payloads import Update
from majlis.graphsim.state import Clock, SimState
from majlis.graphsim.templates import TemplateStore
from majlis.graphsim.webhooks import WebhookDispatcher
from majlis.logging import get_logger

log = get_logger(__name__)
_VERSION = r"{version:v\d+\.\d+}"
# JSON request bodies are small; media uploads are streamed with their own limits.
_MAX_JSON_BYTES = 4 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: SimulatorConfig, *, clock: Clock = time.time) -> web.Application:
    """A simulator application; run it with ``web.AppRunner`` or aiohttp's test server."""
    # Statuses and failures are simulated, not secured: a seeded PRNG keeps runs reproducible.
    rng = random.Random(config.seed)  # noqa: S311
    state = SimState(config, clock)

    def on_delivered(update: Update) -> None:
        sent = state.sent.get(update.wamid or "")
        if sent is not None:
            sent.statuses.append(str(update.item.get("status")))

    sim = Simulator(
        config=config,
        clock=clock,
        rng=rng,
        state=state,
        templates=TemplateStore(),
        media=MediaStore(clock),
        webhooks=WebhookDispatcher(config, clock, on_delivered),
    )
    app = web.Application(client_max_size=_MAX_JSON_BYTES, middlewares=[graph_middleware])
    app[SIMULATOR] = sim
    app.cleanup_ctx.append(_webhook_delivery)
    _add_routes(app)
    return app


def _add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/healthz", admin.healthz)
    router.add_post("/_sim/inbound", admin.inbound)
    router.add_post("/_sim/echo", admin.echo)
    router.add_post("/_sim/app-contacts", admin.app_contact)
    router.add_post("/_sim/history", admin.history)
    router.add_post("/_sim/window", admin.open_window)
    router.add_post("/_sim/numbers", admin.register_number)
    router.add_get("/_sim/sent", admin.list_sent)
    router.add_post("/_sim/faults", admin.add_faults)
    router.add_get("/_sim/webhooks", admin.webhook_stats)
    router.add_get("/_sim/webhooks/inbound", admin.inbound_deliveries)
    router.add_get("/_sim/media/{media_id}", media_views.download_media)
    router.add_post(f"/{_VERSION}/{{node}}/messages", messages.send_message)
    router.add_post(f"/{_VERSION}/{{node}}/media", media_views.upload_media)
    templates = f"/{_VERSION}/{{node}}/message_templates"
    router.add_post(templates, template_views.create_template)
    router.add_get(templates, template_views.list_templates)
    router.add_delete(templates, template_views.delete_template)
    router.add_get(f"/{_VERSION}/{{node}}/phone_numbers", nodes.waba_phone_numbers)
    router.add_get(f"/{_VERSION}/{{node}}", nodes.get_node)
    router.add_delete(f"/{_VERSION}/{{node}}", nodes.delete_node)


async def _webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    sim = app[SIMULATOR]
    async with aiohttp.ClientSession() as session:
        sim.webhooks.start(session)
        log.info("graphsim.started", strict=sim.config.strict, numbers=len(sim.state.numbers))
        if not sim.config.app_secret:
            log.warning("graphsim.no_app_secret", hint="set MAJLIS_META_APP_SECRET")
        yield
        await sim.webhooks.stop()


@web.middleware
async def graph_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inject latency and 5xx on Graph routes, render errors as Meta does, log one line.

    A request is handled when it arrives (Meta counts its per-second throughput then) and
    answered `latency_ms` later, so a client that gives up early may leave a send accepted,
    the ambiguous case a dispatcher must survive.
    """
    started = time.monotonic()
    sim = request.app[SIMULATOR]
    is_graph = not request.path.startswith("/_sim/") and request.path != "/healthz"
    try:
        if is_graph and sim.config.error_rate and sim.rng.random() < sim.config.error_rate:
            raise server_error()
        response = await handler(request)
    except SimError as error:
        response = error.response()
    except web.HTTPNotFound:
        if not is_graph:
            raise
        response = SimError(2500, message=f"Unknown path components: {request.path}").response()
    except web.HTTPMethodNotAllowed:
        method = request.method.lower()
        response = SimError(
            100,
            subcode=33,
            message=f"Unsupported {method} request.",
            error_type="GraphMethodException",
        ).response()
    if is_graph and sim.config.latency_ms:
        await asyncio.sleep(sim.config.latency_ms / 1000)
    route = request.match_info.route.resource
    log.info(
        "graphsim.request",
        method=request.method,
        route=route.canonical if route is not None else "-",
        status=response.status,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    return response
