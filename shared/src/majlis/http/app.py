"""The base application every service builds on (its composition root adds the rest)."""

from __future__ import annotations

import asyncio
import gc
import signal

from aiohttp import web
from prometheus_client import CollectorRegistry

from majlis.http.health import METRICS_REGISTRY, READINESS_CHECKS, add_health_routes
from majlis.http.keys import SERVICE_NAME, SETTINGS
from majlis.http.middlewares import (
    metrics_middleware,
    problem_middleware,
    request_context_middleware,
)
from majlis.logging import configure_logging, get_logger
from majlis.settings import ServiceName, Settings

log = get_logger(__name__)


def create_base_app(settings: Settings, service: ServiceName) -> web.Application:
    """Middlewares, body size limit, health/readiness/metrics; resources are added by callers."""
    registry = CollectorRegistry()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            request_context_middleware,
            metrics_middleware(registry, service.value),
            problem_middleware,
        ],
    )
    app[SETTINGS] = settings
    app[SERVICE_NAME] = service.value
    app[METRICS_REGISTRY] = registry
    app[READINESS_CHECKS] = {}
    add_health_routes(app)
    return app


# Young-generation collections every this many net allocations (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Take what start-up built out of the garbage collector's view and collect less often.

    A request allocates thousands of short-lived objects (frames, dicts, futures), so at the
    default threshold the collector ran several times per request, each time also walking the
    long-lived start-up objects (modules, schemas, pools): 4-5 % of a busy service's CPU in a
    profile. Those are frozen (never collected, never walked); cycles of request garbage are
    still found, in batches about 30 times larger; reference counting frees everything else at
    once, as before. List bench through the gateway, alternating runs: p99 70 ms instead of
    80 ms, 2-4 % more requests per second.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_service(service: ServiceName, settings: Settings, app: web.Application) -> None:
    """Run one service until SIGINT/SIGTERM, then shut down cleanly (cleanup contexts unwind)."""
    import uvloop

    configure_logging(settings.log_level, settings.log_format, service=service.value)
    port = settings.port_for(service)
    log.info("service.starting", host=settings.host, port=port)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, port, reuse_address=True)
        await site.start()
        settle_heap()
        log.info("service.listening", address=f"http://{settings.host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("service.stopping")
        await runner.cleanup()
        log.info("service.stopped")

    uvloop.run(serve())
