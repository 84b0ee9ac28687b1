"""/healthz (the process is up), /readyz (its dependencies answer) and /metrics."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from majlis.logging import get_logger

log = get_logger(__name__)
ReadinessCheck = Callable[[], Awaitable[bool]]

READINESS_CHECKS: web.AppKey[dict[str, ReadinessCheck]] = web.AppKey("readiness_checks", dict)
METRICS_REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("metrics_registry", CollectorRegistry)
_CHECK_TIMEOUT = 2.0
# Set (to a folder of per-process metric files) by majlis.http.run_workers in a service that
# runs several worker processes.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: answers as long as the event loop runs."""
    return web.json_response({"status": "ok"})


async def _run_check(name: str, check: ReadinessCheck) -> tuple[str, bool]:
    try:
        return name, bool(await asyncio.wait_for(check(), _CHECK_TIMEOUT))
    except Exception as error:  # noqa: BLE001  (any failure means "not ready"; logged by kind only)
        log.warning("readiness.check_failed", check=name, error=type(error).__name__)
        return name, False


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 only when every dependency of this process answers."""
    checks = request.app[READINESS_CHECKS]
    results = dict(await asyncio.gather(*(_run_check(n, c) for n, c in checks.items())))
    ready = all(results.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's registry, or of every worker's metrics
    when the service runs several worker processes (counters and histograms summed)."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(request.app[METRICS_REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_health_routes(app: web.Application) -> None:
    """Mount the three operational endpoints."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
