"""Starting the platform's services in-process for tests and benchmarks (real dependencies)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from majlis.settings import Settings


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
