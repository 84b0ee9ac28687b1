"""Composition root of the webhook-ingest service.

Meta's only door: verifies, routes and publishes webhooks. It keeps no data of its own.
"""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from majlis.db import tenant_for_phone_number_id, tenant_for_waba_id
from majlis.http import create_base_app
from majlis.http.health import METRICS_REGISTRY
from majlis.http.resources import (
    DB_POOL,
    bus_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.logging import get_logger
from majlis.settings import ServiceName, Settings
from webhook_ingest.deps import INGEST, IngestDeps
from webhook_ingest.metrics import IngestMetrics
from webhook_ingest.routing import TenantRouter
from webhook_ingest.signatures import AppSecrets
from webhook_ingest.views import add_routes

log = get_logger(__name__)


def create_app(settings: Settings) -> web.Application:
    """Build the webhook-ingest application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.WEBHOOK_INGEST)
    app.cleanup_ctx.append(postgres_ctx("webhook_ingest"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(bus_ctx)

    # The pool exists only once the app has started; the lookups fetch it at call time.
    async def by_number(phone_number_id: str) -> UUID | None:
        return await tenant_for_phone_number_id(app[DB_POOL], phone_number_id)

    async def by_waba(waba_id: str) -> UUID | None:
        return await tenant_for_waba_id(app[DB_POOL], waba_id)

    secrets = AppSecrets.from_settings(settings)
    if not secrets.has_default:
        # Fail closed: without the secret every POST to the platform URL is refused (403).
        log.warning("webhook.no_app_secret")
    app[INGEST] = IngestDeps(
        secrets=secrets,
        verify_token=settings.meta_verify_token.get_secret_value(),
        router=TenantRouter(by_number, by_waba),
        metrics=IngestMetrics.register(app[METRICS_REGISTRY]),
        max_body_bytes=settings.webhook_max_body_bytes,
    )
    add_routes(app)
    return app
