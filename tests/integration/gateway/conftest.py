"""A running gateway (in-process, real PostgreSQL, Redis and RabbitMQ) and a Graph API simulator.

The gateway trusts 127.0.0.1 as a proxy here so that each test can speak from its own client
IP through X-Forwarded-For; the spoofing tests run a gateway that trusts nobody.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from majlis.settings import Settings
from majlis.testing.browser import GatewayUnderTest
from majlis.testing.stack import gateway_settings, running_gateway, start_gateway


@pytest.fixture(scope="module")
async def gateway(
    settings: Settings, graph_simulator: str, db_pool: Any
) -> AsyncIterator[GatewayUnderTest]:
    """A gateway per test module. Not per session: its outbox relay serves every tenant, and
    alive after this package it took rows that tests/integration/test_outbox.py had just
    added for its own relay (a rare "DID NOT RAISE" there)."""
    async with running_gateway(settings, graph_simulator, db_pool) as under_test:
        yield under_test


@pytest.fixture
async def gateway_factory(
    settings: Settings, graph_simulator: str
) -> AsyncIterator[Callable[..., Awaitable[GatewayUnderTest]]]:
    """Start extra gateways with other settings (closed after the test)."""
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def make(**overrides: Any) -> GatewayUnderTest:
        configured = gateway_settings(settings, graph_simulator, **overrides)
        server, session = await start_gateway(configured)
        started.append((server, session))
        return GatewayUnderTest(
            str(server.make_url("")).rstrip("/"), server.app, configured, session
        )

    yield make
    for server, session in started:
        await session.close()
        await server.close()


@pytest.fixture
async def audit_url(settings: Settings) -> AsyncIterator[str]:
    """The audit service in-process, consuming this run's `audit.events` queue."""
    from audit.app import create_app

    app: web.Application = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()
