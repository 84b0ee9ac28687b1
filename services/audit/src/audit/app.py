"""Composition root of the audit service: the only writer of the tamper-evident audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from audit.appender import ChainAppender
from audit.consumers import bind_handlers
from audit.deps import APPENDER, HEAD_SIGNER, SIGNING_KEY, WRITER_POOL
from audit.heads import HeadSigner, signing_key
from audit.views import add_routes
from majlis.db import all_tenant_ids, create_pool
from majlis.http import create_base_app
from majlis.http.keys import SETTINGS
from majlis.http.resources import (
    DB_POOL,
    authenticator_ctx,
    bus_ctx,
    consumer_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.http.tokens import TokenVerifier
from majlis.settings import ServiceName, Settings


async def writer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The writer role's pool (append-only rights), the appender and the head signer."""
    settings = app[SETTINGS]
    pool = await create_pool(
        settings.audit_writer_database_url.get_secret_value(),
        min_size=1,
        max_size=settings.db_pool_max,
        command_timeout=settings.db_command_timeout,
        application_name="audit-writer",
    )
    signer = HeadSigner(pool, app[SIGNING_KEY], settings.audit_head_interval_seconds)
    # Chains appended to before a restart get their heads signed in the first round.
    for tenant_id in await all_tenant_ids(app[DB_POOL]):
        signer.touched(tenant_id)
    app[WRITER_POOL] = pool
    app[HEAD_SIGNER] = signer
    app[APPENDER] = appender = ChainAppender(pool, signer.touched)
    task = asyncio.create_task(signer.run(), name="audit-head-signer")
    yield
    await appender.close()
    signer.stop()
    await task
    await pool.close()


def create_app(settings: Settings) -> web.Application:
    """Build the audit application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.AUDIT)
    # Keys and verifiers come from settings alone: a misconfiguration fails here, at start.
    app[SIGNING_KEY] = signing_key(settings)
    TokenVerifier.from_settings(settings)
    app.cleanup_ctx.append(postgres_ctx("audit"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(authenticator_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(writer_ctx)
    # Consumption starts only after the writer pool and the signer exist; it stops first.
    app.cleanup_ctx.append(
        consumer_ctx("audit.events", "audit", bind_handlers(lambda: app[APPENDER]))
    )
    add_routes(app)
    return app
