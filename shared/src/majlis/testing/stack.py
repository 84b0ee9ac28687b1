"""Starting the platform's services in-process for tests and benchmarks (real dependencies)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from majlis.db import tenant_transaction
from majlis.settings import Settings
from majlis.testing.browser import GatewayUnderTest


async def start_gateway(settings: Settings) -> tuple[TestServer, aiohttp.ClientSession]:
    """A gateway on a free local port and a client session for it."""
    from gateway.app import create_app

    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    return server, session


def gateway_settings(settings: Settings, graph_url: str, **overrides: Any) -> Settings:
    """Settings for a gateway under test: 127.0.0.1 is a trusted proxy (per-test client IPs)."""
    values: dict[str, Any] = {
        "trusted_proxies": ("127.0.0.1/32",),
        "graph_api_url": graph_url,
        "lockout_base_seconds": 2,
        "ip_block_strikes": 1000,
        "refresh_grace_seconds": 1,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, graph_url: str, db_pool: Any
) -> AsyncIterator[GatewayUnderTest]:
    """A gateway under test (`gateway_settings`); on exit it stops and the tenants it
    registered are deleted."""
    configured = gateway_settings(settings, graph_url)
    server, session = await start_gateway(configured)
    under_test = GatewayUnderTest(
        str(server.make_url("")).rstrip("/"), server.app, configured, session
    )
    try:
        yield under_test
    finally:
        await session.close()
        await server.close()
        for tenant_id in under_test.tenants:
            async with tenant_transaction(db_pool, tenant_id) as conn:
                await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
