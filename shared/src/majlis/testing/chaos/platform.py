"""The six services and the Graph API simulator as real processes on the private stores."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from majlis.db.setup import ensure_roles_and_database, migrate
from majlis.settings import REPO_ROOT, ServiceName, Settings, load_settings
from majlis.testing.benchmarks import free_port
from majlis.testing.chaos.servers import PrivateServers

_READY_TIMEOUT = 90.0
DATABASE = "majlis_chaos"


def platform_env(servers: PrivateServers, base: dict[str, str]) -> dict[str, str]:
    """``base`` (test.env's keys) pointed at the private stores, free ports and the simulator.

    The simulator retries a webhook that got no 200 with Meta's exponential back-off, capped
    low so that a run recovers within seconds of a fault ending.
    """
    pg = servers.postgres
    ports = {service: free_port() for service in ServiceName}
    sim_port = free_port()
    env = base | {
        "MAJLIS_DATABASE_URL": pg.url("majlis_app", DATABASE),
        "MAJLIS_DATABASE_OWNER_URL": pg.url("majlis_owner", DATABASE),
        "MAJLIS_OUTBOX_RELAY_DATABASE_URL": pg.url("majlis_outbox_relay", DATABASE),
        "MAJLIS_AUDIT_WRITER_DATABASE_URL": pg.url("majlis_audit_writer", DATABASE),
        "MAJLIS_DATABASE_ADMIN_URL": pg.admin_url,
        "MAJLIS_REDIS_URL": servers.redis.url,
        "MAJLIS_REDIS_PREFIX": f"chaos:{uuid.uuid4().hex[:8]}:",
        "MAJLIS_AMQP_URL": servers.rabbit.url,
        "MAJLIS_BUS_PREFIX": "",
        "MAJLIS_LOG_LEVEL": "info",
        "MAJLIS_GRAPH_SIMULATOR_PORT": str(sim_port),
        "MAJLIS_GRAPH_API_URL": f"http://127.0.0.1:{sim_port}",
        "MAJLIS_GRAPHSIM_WEBHOOK_MAX_ATTEMPTS": "60",
        "MAJLIS_GRAPHSIM_WEBHOOK_RETRY_BASE_MS": "250",
        "MAJLIS_GRAPHSIM_WEBHOOK_RETRY_MAX_MS": "2000",
        "MAJLIS_GRAPHSIM_TEMPLATE_APPROVAL_DELAY_MS": "200",
    }
    # The services' own retry schedule (1 s, 5 s, 25 s), not the test suite's short one: a
    # message that meets a 20 s outage must still be retried after it.
    env.pop("MAJLIS_BUS_RETRY_DELAYS_MS", None)
    env |= {f"MAJLIS_{s.value.upper()}_PORT": str(p) for s, p in ports.items()}
    env |= {
        f"MAJLIS_{s.value.upper()}_URL": f"http://127.0.0.1:{ports[s]}"
        for s in (ServiceName.INBOX, ServiceName.CHATFLOW, ServiceName.BROADCAST, ServiceName.AUDIT)
    }
    return env


def settings_for(env: dict[str, str]) -> Settings:
    """The settings the services read from ``env``."""
    saved = os.environ.copy()
    try:
        os.environ.clear()
        os.environ.update(env)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def prepare_database(env: dict[str, str]) -> None:
    """Roles, database and every migration on the private cluster."""
    await ensure_roles_and_database(env["MAJLIS_DATABASE_ADMIN_URL"], DATABASE)
    await migrate(env["MAJLIS_DATABASE_OWNER_URL"], REPO_ROOT / "deploy" / "migrations")


@dataclass
class Platform:
    """Starts, kills (-9) and restarts the services; their output goes to log files."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None

    def port(self, service: ServiceName) -> int:
        return int(self.env[f"MAJLIS_{service.value.upper()}_PORT"])

    def url(self, service: ServiceName) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    @property
    def sim(self) -> str:
        return self.env["MAJLIS_GRAPH_API_URL"]

    async def _spawn(self, name: str, module: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as out:
            self.processes[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, stdout=out, stderr=asyncio.subprocess.STDOUT,
                env=self.env, start_new_session=True,
            )  # fmt: skip

    async def _ready(self, url: str, name: str) -> None:
        assert self.http is not None
        deadline = asyncio.get_running_loop().time() + _READY_TIMEOUT
        while True:
            process = self.processes[name]
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as answer:
                    if answer.status == 200:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{name} not ready after {_READY_TIMEOUT:.0f} s")
            await asyncio.sleep(0.2)

    async def start(self) -> None:
        """The simulator, then all six services, each ready."""
        self.http = aiohttp.ClientSession()
        await self._spawn("graphsim", "majlis.graphsim")
        await self._ready(f"{self.sim}/healthz", "graphsim")
        for service in ServiceName:
            await self._spawn(service.value, service.value)
        await asyncio.gather(*(self.ready(service) for service in ServiceName))

    async def ready(self, service: ServiceName) -> None:
        """Wait for the service's /readyz to answer 200."""
        await self._ready(f"{self.url(service)}/readyz", service.value)

    async def kill(self, service: ServiceName) -> None:
        """``kill -9``: no shutdown hooks, no flushing, like a crashed container."""
        process = self.processes[service.value]
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def restart(self, service: ServiceName) -> None:
        await self._spawn(service.value, service.value)
        await self.ready(service)

    async def stop(self) -> None:
        """SIGTERM everything (SIGKILL after 15 s)."""
        for process in self.processes.values():
            if process.returncode is None:
                process.terminate()
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in self.processes.values())), 15)
        except TimeoutError:
            for process in self.processes.values():
                if process.returncode is None:
                    process.kill()
            await asyncio.gather(*(p.wait() for p in self.processes.values()))
        if self.http is not None:
            await self.http.close()
