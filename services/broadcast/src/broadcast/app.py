"""Composition root of the broadcast service.

Templates, campaigns, and the dispatcher that sends to Meta.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web

from broadcast import views_campaign_actions, views_campaigns, views_templates
from broadcast.analytics import views as analytics_views
from broadcast.analytics.consumers import analytics_handlers
from broadcast.campaign_progress import ProgressGate
from broadcast.campaign_runner import CampaignRunner, RunnerConfig
from broadcast.consumers import command_handlers, event_handlers
from broadcast.dispatcher import Dispatcher, DispatcherConfig
from broadcast.integrations import consumers as webhook_consumers
from broadcast.integrations import views as webhook_views
from broadcast.integrations.worker import DeliveryWorker, WorkerConfig
from broadcast.pacing import NumberRateLimiter, RecipientPacer, departure_trace
from broadcast.sweeper import Sweeper
from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.http import create_base_app
from majlis.http.keys import SETTINGS
from majlis.http.resources import (
    BUS,
    DB_POOL,
    REDIS,
    CleanupContext,
    authenticator_ctx,
    bus_ctx,
    egress_policy,
    outbox_relay_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.messaging import PLATFORM_QUEUES, Consumer, Handler
from majlis.meta import GraphClient
from majlis.net.egress import egress_session
from majlis.settings import ServiceName, Settings

DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher", Dispatcher)
CONFIG: web.AppKey[DispatcherConfig] = web.AppKey("dispatcher_config", DispatcherConfig)
RUNNER_CONFIG: web.AppKey[RunnerConfig] = web.AppKey("runner_config", RunnerConfig)
WEBHOOK_WORKER: web.AppKey[DeliveryWorker] = web.AppKey("webhook_worker", DeliveryWorker)


async def dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
    """The dispatcher: one keep-alive HTTP pool to Meta, Redis pacing, the sweeper."""
    settings, config = app[SETTINGS], app[CONFIG]
    # Many sends in flight over kept-alive connections; pacing is the token bucket's job.
    connector = aiohttp.TCPConnector(limit=config.http_connections, limit_per_host=0)
    async with egress_session(
        egress_policy(app), connector=connector, trace_configs=[departure_trace()]
    ) as session:
        cipher = FieldCipher(KeyRing.from_settings(settings))
        redis, prefix = app[REDIS], settings.redis_prefix
        dispatcher = Dispatcher(
            app[DB_POOL],
            cipher,
            GraphClient.from_settings(session, settings),
            NumberRateLimiter(redis, prefix, bulk_share=config.bulk_share),
            RecipientPacer(
                redis,
                prefix,
                BlindIndexer.from_settings(settings),
                interval_s=config.pair_interval_s,
                burst=config.pair_burst,
            ),
            config,
        )
        app[DISPATCHER] = dispatcher
        sweeper = Sweeper(dispatcher)
        task = asyncio.create_task(sweeper.run(), name="dispatch-sweeper")
        yield
        await sweeper.stop()
        await task


async def runner_ctx(app: web.Application) -> AsyncIterator[None]:
    """The campaign runner: starts scheduled campaigns and feeds running ones."""
    progress = ProgressGate(app[REDIS], app[SETTINGS].redis_prefix)
    runner = CampaignRunner(app[views_campaigns.CAMPAIGNS], app[RUNNER_CONFIG], progress)
    task = asyncio.create_task(runner.run(), name="campaign-runner")
    yield
    await runner.stop()
    await task


async def webhook_worker_ctx(app: web.Application) -> AsyncIterator[None]:
    """The outbound webhook delivery worker: sends due deliveries, retries, disables."""
    settings = app[SETTINGS]
    worker = DeliveryWorker(
        app[webhook_views.WEBHOOKS], settings, WorkerConfig.from_settings(settings)
    )
    app[WEBHOOK_WORKER] = worker
    task = asyncio.create_task(worker.run(), name="webhook-worker")
    yield
    await worker.stop()
    await task


def queue_ctx(queue: str, handlers: Mapping[str, Handler], prefetch: int) -> CleanupContext:
    """Consume one platform queue with its own channel and prefetch."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        spec = next(q for q in PLATFORM_QUEUES if q.name == queue)
        consumer = Consumer(
            app[BUS],
            spec,
            handlers,
            consumer_name=f"broadcast-{queue}",
            retry_delays_ms=app[SETTINGS].bus_retry_delays_ms,
            prefetch=prefetch,
        )
        await consumer.start()
        yield
        await consumer.stop()

    return ctx


def create_app(
    settings: Settings,
    config: DispatcherConfig | None = None,
    runner_config: RunnerConfig | None = None,
) -> web.Application:
    """Build the broadcast application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.BROADCAST)
    config = config or DispatcherConfig()
    app[CONFIG] = config
    app[RUNNER_CONFIG] = runner_config or RunnerConfig(bulk_share=config.bulk_share)
    KeyRing.from_settings(settings)  # a key misconfiguration fails here, at start

    def get() -> Dispatcher:
        return app[DISPATCHER]

    app.cleanup_ctx.append(postgres_ctx("broadcast"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(authenticator_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(dispatcher_ctx)
    app.cleanup_ctx.append(views_templates.templates_ctx)
    app.cleanup_ctx.append(views_campaigns.campaigns_ctx)
    # Interactive and bulk on separate channels: a bulk backlog holding every bulk prefetch
    # slot (waiting on the rate limit) never delays an agent's reply.
    commands = command_handlers(get)
    app.cleanup_ctx.append(queue_ctx("broadcast.commands", commands, config.interactive_prefetch))
    app.cleanup_ctx.append(queue_ctx("broadcast.bulk", commands, config.bulk_prefetch))
    events = event_handlers(get, lambda: app[views_campaigns.CAMPAIGNS])
    app.cleanup_ctx.append(queue_ctx("broadcast.events", events, 64))
    app.cleanup_ctx.append(webhook_views.webhooks_ctx)
    hooks = webhook_consumers.handlers(lambda: app[webhook_views.WEBHOOKS])
    app.cleanup_ctx.append(queue_ctx("broadcast.webhooks", hooks, 64))
    analytics = analytics_handlers(lambda: app[DB_POOL])
    app.cleanup_ctx.append(queue_ctx("broadcast.analytics", analytics, 32))
    app.cleanup_ctx.append(outbox_relay_ctx)
    app.cleanup_ctx.append(runner_ctx)
    app.cleanup_ctx.append(webhook_worker_ctx)
    views_templates.add_routes(app)
    views_campaigns.add_routes(app)
    views_campaign_actions.add_routes(app)
    webhook_views.add_routes(app)
    analytics_views.add_routes(app)
    return app
