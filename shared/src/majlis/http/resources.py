"""Cleanup contexts for shared resources: each opens on start-up and closes on shut-down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from majlis.ai.settings import AiSettings
from majlis.db import create_pool
from majlis.http.auth import Authenticator
from majlis.http.health import METRICS_REGISTRY, READINESS_CHECKS
from majlis.http.keys import SERVICE_NAME, SETTINGS
from majlis.http.revocation import RevocationStore
from majlis.http.tokens import TokenVerifier
from majlis.messaging import (
    PLATFORM_QUEUES,
    Bus,
    Consumer,
    OutboxRelay,
    Publisher,
)
from majlis.net.egress import EgressPolicy, allowed_hosts

DB_POOL: web.AppKey[asyncpg.Pool[Any]] = web.AppKey("db_pool", asyncpg.Pool)
REDIS: web.AppKey[aioredis.Redis] = web.AppKey("redis", aioredis.Redis)
BUS: web.AppKey[Bus] = web.AppKey("bus", Bus)
PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher", Publisher)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def postgres_ctx(application_name: str) -> CleanupContext:
    """The application-role pool, with a readiness check."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        pool = await create_pool(
            settings.database_url.get_secret_value(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=settings.db_command_timeout,
            application_name=application_name,
        )
        app[DB_POOL] = pool

        async def check() -> bool:
            return bool(await pool.fetchval("SELECT 1"))

        app[READINESS_CHECKS]["postgres"] = check
        yield
        await pool.close()

    return ctx


REDIS_MAX_CONNECTIONS = 256


def redis_client(url: str) -> aioredis.Redis:
    """The services' asyncio Redis client: fails fast when Redis is down, heals when it is back.

    No retries with backoff: when Redis is down, callers must learn it at once and fail closed
    (503) instead of hanging every request for seconds. But one immediate retry on a fresh
    connection after a ConnectionError: a Redis restart leaves every pooled connection dead,
    and without it each of them failed one request after Redis was back (found by `make
    chaos`: a 503 from the gateway minutes after the outage). While Redis is down the retry
    is refused at once too (the connect timeout is 1 s), so failing closed stays fast.
    Timeouts are not retried: a command that timed out may have run.

    A blocking pool: past its size, a caller waits (up to the socket timeout) for a free
    connection. redis-py's default pool raises MaxConnectionsError at once past 100, which
    under load (the dispatcher has hundreds of sends pacing at once) failed healthy work.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=2.0,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return aioredis.Redis(connection_pool=pool)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """An asyncio Redis client (see redis_client), with a readiness check."""
    settings = app[SETTINGS]
    client = redis_client(settings.redis_url.get_secret_value())
    app[REDIS] = client

    async def check() -> bool:
        return bool(await client.ping())

    app[READINESS_CHECKS]["redis"] = check
    yield
    await client.aclose(close_connection_pool=True)


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    """The RabbitMQ connection: declares the platform topology and opens a confirming publisher."""
    settings = app[SETTINGS]
    bus = await Bus.connect(settings, name=app[SERVICE_NAME])
    # Every process declares the whole platform topology, so a publish always routes.
    await bus.declare_topology(PLATFORM_QUEUES)
    app[BUS] = bus
    app[PUBLISHER] = Publisher(bus, timeout=settings.bus_publish_timeout)
    app[READINESS_CHECKS]["rabbitmq"] = bus.is_healthy
    yield
    await bus.close()


def consumer_ctx(spec_name: str, consumer_name: str, handlers: dict[str, Any]) -> CleanupContext:
    """Consume one platform queue with a handler table; starts only when handlers exist.

    A queue whose service has no handlers yet is declared (so nothing published to it is lost)
    but not consumed, so its messages wait for the code that will handle them.
    """

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not handlers:
            yield
            return
        settings = app[SETTINGS]
        spec = next(q for q in PLATFORM_QUEUES if q.name == spec_name)
        consumer = Consumer(
            app[BUS],
            spec,
            handlers,
            consumer_name=consumer_name,
            retry_delays_ms=settings.bus_retry_delays_ms,
            prefetch=settings.bus_prefetch,
        )
        await consumer.start()
        yield
        await consumer.stop()

    return ctx


async def outbox_relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Publish committed outbox rows with confirms, as the narrow relay role."""
    settings = app[SETTINGS]
    pool = await create_pool(
        settings.outbox_relay_database_url.get_secret_value(),
        min_size=1,
        max_size=2,
        application_name="outbox-relay",
    )
    relay = OutboxRelay(
        pool,
        app[PUBLISHER],
        batch_size=settings.outbox_batch_size,
        poll_interval=settings.outbox_poll_interval,
    )
    task = asyncio.create_task(relay.run(), name="outbox-relay")
    yield
    await relay.stop()
    await task
    await pool.close()


AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("authenticator", Authenticator)


async def authenticator_ctx(app: web.Application) -> AsyncIterator[None]:
    """Access-token verification for a back end: public keys only, revocations from Redis."""
    settings = app[SETTINGS]
    revocations = RevocationStore(
        app[REDIS],
        settings.redis_prefix,
        issuer=settings.jwt_issuer,
        max_token_ttl=settings.access_token_ttl_seconds,
        leeway=settings.jwt_leeway_seconds,
    )
    app[AUTHENTICATOR] = Authenticator(TokenVerifier.from_settings(settings), revocations)
    yield


EGRESS: web.AppKey[EgressPolicy] = web.AppKey("egress_policy", EgressPolicy)


def egress_policy(app: web.Application, ai_settings: AiSettings | None = None) -> EgressPolicy:
    """The app's egress policy (one per app: its refusal counter is on the app's /metrics).

    Call from a cleanup context after redis_ctx; the first call fixes the allow-list.
    """
    if EGRESS not in app:
        settings = app[SETTINGS]
        app[EGRESS] = EgressPolicy(
            allowed_hosts(settings, ai_settings),
            registry=app[METRICS_REGISTRY],
            redis=app.get(REDIS),
            redis_prefix=settings.redis_prefix,
        )
    return app[EGRESS]
