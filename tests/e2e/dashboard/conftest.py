"""The whole platform as `make run` starts it (in the test database), and Debian's Chromium
driven by Playwright. No browser is ever downloaded: without /usr/bin/chromium these tests
skip (`make test` installs it through scripts/ensure-browser.sh).

The gateway trusts 127.0.0.1 as a proxy, so each browser context speaks from an address of its
own (X-Forwarded-For, documentation range): the per-IP sign-in limits stay per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from majlis.db import create_pool, tenant_transaction
from majlis.messaging import PLATFORM_QUEUES, Bus, BusError, delete_topology
from majlis.settings import ServiceName, Settings
from majlis.testing.benchmarks import child_pids
from majlis.testing.dashboard_e2e import (
    Business,
    Platform,
    free_ports,
    fresh_ip,
    new_business,
)
from majlis.testing.secret_scan import LoggedOutput

CHROMIUM = Path(os.environ.get("MAJLIS_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "docs" / "screenshots"

if not CHROMIUM.exists():
    pytest.skip(
        f"Chromium not found at {CHROMIUM} (scripts/ensure-browser.sh installs it)",
        allow_module_level=True,
    )


async def _delete_bus_names(settings: Settings) -> None:
    """The platform's queues and exchanges (the run's own clean-up knows only its prefix)."""
    try:
        bus = await Bus.connect(settings)
    except BusError:
        return
    try:
        await delete_topology(
            await bus.channel(), settings.bus_prefix, PLATFORM_QUEUES, settings.bus_retry_delays_ms
        )
    finally:
        await bus.close()


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    """Extra ``MAJLIS_*`` settings of the module's platform (a module overrides this fixture,
    e.g. for short-lived access tokens); applied last, so they win."""
    return {}


class _SharedPlatform:
    """The platform of every module that asks for no settings of its own: started when the
    first such module needs it and kept for the next ones (each test makes tenants of its own).
    Platforms share the test database (outbox relays, sweepers), so two never run at once: a
    module with settings of its own stops the shared one first, and it starts again when next
    needed; the package's end stops it before the rest of the suite runs its own services."""

    def __init__(self) -> None:
        self.stack: contextlib.AsyncExitStack | None = None
        self.platform: Platform | None = None

    async def get(self, settings: Settings) -> Platform:
        if self.platform is None:
            stack = contextlib.AsyncExitStack()
            self.platform = await stack.enter_async_context(_running_platform(settings, {}))
            self.stack = stack
        return self.platform

    async def stop(self) -> None:
        stack, self.stack, self.platform = self.stack, None, None
        if stack is not None:
            await stack.aclose()


_SHARED = _SharedPlatform()
_HERE = Path(__file__).resolve().parent
# The test pytest runs after the current one (None after the last): a module's teardown uses it
# to stop the shared platform when the run leaves this directory. (A "package"-scoped fixture
# would not do: this directory is no package, so such a fixture lives until the session ends,
# and the platform's outbox relays would take the rest of the suite's events.)
_NEXT: dict[str, pytest.Item | None] = {"item": None}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _NEXT["item"] = nextitem
    return (yield)


def _run_leaves_this_directory() -> bool:
    following = _NEXT["item"]
    return following is None or _HERE not in following.path.resolve().parents


@pytest.fixture(scope="module")
async def platform(settings: Settings, platform_env: dict[str, str]) -> AsyncIterator[Platform]:
    """The shared platform, or one of the module's own when it overrides `platform_env`."""
    if not platform_env:
        yield await _SHARED.get(settings)
        if _run_leaves_this_directory():
            await _SHARED.stop()
        return
    await _SHARED.stop()
    async with _running_platform(settings, platform_env) as platform:
        yield platform


@contextlib.asynccontextmanager
async def _running_platform(
    settings: Settings, platform_env: dict[str, str]
) -> AsyncIterator[Platform]:
    """`python -m majlis.devrun` on free ports, with the Graph API simulator."""
    assert (ROOT / "services/dashboard/dist/index.html").is_file(), "run `make dashboard`"
    free = free_ports(len(ServiceName) + 1)
    ports = dict(zip(ServiceName, free, strict=False))
    env = os.environ | {f"MAJLIS_{s.value.upper()}_PORT": str(p) for s, p in ports.items()}
    env |= {
        f"MAJLIS_{s.value.upper()}_URL": f"http://127.0.0.1:{ports[s]}"
        for s in (ServiceName.INBOX, ServiceName.CHATFLOW, ServiceName.BROADCAST, ServiceName.AUDIT)
    }
    base = f"http://127.0.0.1:{ports[ServiceName.GATEWAY]}"
    env |= {
        "MAJLIS_GRAPH_SIMULATOR_PORT": str(free[-1]),
        "MAJLIS_GRAPH_API_URL": "",
        "MAJLIS_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "MAJLIS_PUBLIC_BASE_URL": base,
        "MAJLIS_LOG_LEVEL": "warning",
        # A replayed refresh token counts as reuse after one second (not ten).
        "MAJLIS_REFRESH_GRACE_SECONDS": "1",
        # Names of its own on the bus and in Redis: the rest of the suite runs its own
        # consumers, which must never take this platform's messages (nor it theirs).
        "MAJLIS_BUS_PREFIX": os.environ.get("MAJLIS_BUS_PREFIX", "") + "dashboard.",
        "MAJLIS_REDIS_PREFIX": os.environ.get("MAJLIS_REDIS_PREFIX", "") + "dashboard:",
        # Webhook endpoints on 127.0.0.1 (a receiver the test starts): a dev/test-only
        # setting, refused in production whatever its value.
        "MAJLIS_OUTBOUND_ALLOW_LOOPBACK": "true",
    }
    env |= platform_env
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majlis.devrun",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    # The services' log lines go to the run's log too: the secret scanner reads them there.
    stdout = LoggedOutput(process.stdout)
    output: list[str] = []
    drain: asyncio.Task[None] | None = None
    services: list[int] = []
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await stdout.readline()).decode()
                assert line, "launcher exited:\n" + "".join(output)
                output.append(line)
                if "Press Ctrl-C to stop" in line:
                    break

        drain = asyncio.create_task(stdout.drain())
        services = child_pids(process.pid)
        async with aiohttp.ClientSession() as session:
            platform = Platform(base, f"http://127.0.0.1:{free[-1]}", env, session)
            yield platform
        pool = await create_pool(env["MAJLIS_DATABASE_URL"], min_size=1, max_size=1)
        for tenant_id in platform.tenants:
            async with tenant_transaction(pool, tenant_id) as conn:
                await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
        await pool.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        # The services run in sessions of their own: none may outlive a launcher killed late.
        for pid in services:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if drain is not None:
            # The launcher has exited: its last lines (shutdown) reach the log, then EOF.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await drain
            drain.cancel()
        await _delete_bus_names(
            settings.model_copy(update={"bus_prefix": env["MAJLIS_BUS_PREFIX"]})
        )


@pytest.fixture
async def business(platform: Platform) -> Business:
    """A new tenant, its owner signed in through the API, one WhatsApp number connected."""
    return await new_business(platform)


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def new_context(browser: Any) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Browser contexts (separate cookie jars), each from an address of its own."""
    contexts: list[Any] = []

    async def make(language: str = "en", **options: Any) -> Any:
        context = await browser.new_context(
            extra_http_headers={"X-Forwarded-For": fresh_ip()},
            locale="ar-AE" if language == "ar" else "en-GB",
            viewport={"width": 1280, "height": 800},
            **options,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()
