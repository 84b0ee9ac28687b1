"""Composition root of the inbox service: contacts, conversations, messages and media."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from inbox import views, views_contacts, views_conversations, views_replies
from inbox.consumers import bind_handlers
from inbox.deps import CIPHER, GRAPH, INBOX_DEPS, INDEXER, PRESENCE, InboxDeps
from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.http import create_base_app
from majlis.http.keys import SETTINGS
from majlis.http.resources import (
    DB_POOL,
    REDIS,
    authenticator_ctx,
    bus_ctx,
    consumer_ctx,
    egress_policy,
    outbox_relay_ctx,
    postgres_ctx,
    redis_ctx,
)
from majlis.http.tokens import TokenVerifier
from majlis.messaging.queues import INBOX_EVENTS, INBOX_STATUSES
from majlis.meta import GraphClient
from majlis.net.egress import egress_session
from majlis.presence import Presence
from majlis.settings import ServiceName, Settings


async def graph_ctx(app: web.Application) -> AsyncIterator[None]:
    """An HTTP session for the Graph API (media downloads), closed on shut-down."""
    settings = app[SETTINGS]
    async with egress_session(egress_policy(app)) as session:
        app[GRAPH] = GraphClient.from_settings(session, settings)
        yield


async def deps_ctx(app: web.Application) -> AsyncIterator[None]:
    """Bundle what the handlers need, once the pool and the Graph client exist."""
    app[PRESENCE] = Presence(app[REDIS], app[SETTINGS].redis_prefix)
    app[INBOX_DEPS] = InboxDeps(
        pool=app[DB_POOL],
        cipher=app[CIPHER],
        indexer=app[INDEXER],
        graph=app[GRAPH],
        phone_region=app[SETTINGS].default_phone_region,
        presence=app[PRESENCE],
    )
    yield


def create_app(settings: Settings) -> web.Application:
    """Build the inbox application; nothing connects until the app starts."""
    app = create_base_app(settings, ServiceName.INBOX)
    # Keys and verifiers come from settings alone: a misconfiguration fails here, at start.
    app[CIPHER] = FieldCipher(KeyRing.from_settings(settings))
    app[INDEXER] = BlindIndexer.from_settings(settings)
    TokenVerifier.from_settings(settings)  # fail at start, not on the first request
    app.cleanup_ctx.append(postgres_ctx("inbox"))
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(authenticator_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(graph_ctx)
    app.cleanup_ctx.append(deps_ctx)
    # Consumption starts only after every dependency above is in place.
    # Two queues, each with its own prefetch: customers' messages never wait behind statuses.
    handlers = bind_handlers(lambda: app[INBOX_DEPS])
    for queue in (INBOX_EVENTS, INBOX_STATUSES):
        app.cleanup_ctx.append(consumer_ctx(queue.name, "inbox", handlers))
    app.cleanup_ctx.append(outbox_relay_ctx)
    app.cleanup_ctx.append(views_contacts.purge_ctx)  # the contacts' retention purge
    app.cleanup_ctx.append(views_conversations.snooze_waker_ctx)
    for module in (views, views_conversations, views_replies, views_contacts):
        module.add_routes(app)
    return app
