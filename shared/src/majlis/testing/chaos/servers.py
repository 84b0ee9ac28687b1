"""Private PostgreSQL, Redis and RabbitMQ instances for the fault run, on free ports in a temp dir.

The fault run stops and restarts its stores; the machine's shared servers (what `make run`
and other test runs use) must never feel it. So every store here is a child of our own,
started from the installed binaries, with its data under one temporary directory that is
removed at the end. PostgreSQL refuses to run as root and the Debian ``rabbitmq-server``
wrapper switches to the ``rabbitmq`` user when started as root, so as root their folders
belong to those users.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from majlis.testing.benchmarks import free_port

PG_BIN = Path(os.environ.get("MAJLIS_CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))
_START_TIMEOUT = 60.0


async def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_port(port: int, name: str, *, open_: bool = True) -> None:
    """Wait until the port opens (or closes); RuntimeError after a minute."""
    deadline = asyncio.get_running_loop().time() + _START_TIMEOUT
    while await port_open(port) != open_:
        if asyncio.get_running_loop().time() > deadline:
            state = "listen" if open_ else "stop listening"
            raise RuntimeError(f"{name} did not {state} on 127.0.0.1:{port}")
        await asyncio.sleep(0.1)


def _as_user(user: str, argv: list[str]) -> list[str]:
    """Run argv as ``user`` when we are root (servers refuse root or switch themselves)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def _give(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, d) for d in dirs)]:
                os.chown(name, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


async def _run(argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env
        )
        code = await process.wait()
    if code != 0:
        raise RuntimeError(f"{argv[0]} exited with {code}; see {log}")


@dataclass
class PrivateRedis:
    """``redis-server --daemonize no`` on its own port, no persistence."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder),
            stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        await wait_port(self.port, "redis-server")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()  # no persistence: nothing to save, a crash is the real case
            await self.process.wait()
        await wait_port(self.port, "redis-server", open_=False)


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster (initdb, trust on loopback, fsync off)."""

    folder: Path
    port: int = field(default_factory=free_port)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, role: str, database: str) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    async def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _give(self.folder, "postgres")
        argv = [str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-A", "trust",
                "-U", "postgres", "--no-sync", "-E", "UTF8"]  # fmt: skip
        await _run(_as_user("postgres", argv), self.folder.parent / "initdb.log")

    def _ctl(self, *args: str) -> list[str]:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            " -c fsync=off -c synchronous_commit=off -c max_connections=300"
        )
        return _as_user(
            "postgres",
            [str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-l",
             str(self.folder / "postgres.log"), "-o", options, "-w", "-t", "60", *args],
        )  # fmt: skip

    async def start(self) -> None:
        await _run(self._ctl("start"), self.folder.parent / "pg_ctl.log")

    async def stop(self, mode: str = "fast") -> None:
        await _run(self._ctl("-m", mode, "stop"), self.folder.parent / "pg_ctl.log")


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of our own (``chaos-<id>@localhost``), no plugins, in the foreground."""

    folder: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def node(self) -> str:
        return f"chaos-{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        return os.environ | {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
        }

    async def start(self) -> None:
        if not (self.folder / "rabbitmq.conf").exists():
            for name in ("mnesia", "log"):
                (self.folder / name).mkdir(parents=True, exist_ok=True)
            # The machine's /etc/rabbitmq would put us on :5672; this file wins.
            (self.folder / "rabbitmq.conf").write_text(
                f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            )
            # Schedulers sleep instead of spinning when idle, as in deploy/compose.yaml: the
            # node shares two cores with the platform it carries.
            (self.folder / "rabbitmq-env.conf").write_text(
                'SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"\n'
            )
            (self.folder / "enabled_plugins").write_text("[].\n")
            _give(self.folder, "rabbitmq")
        log = (self.folder / "server.out").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            "rabbitmq-server",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=self._env(),
            start_new_session=True,
        )
        log.close()
        await wait_port(self.port, "rabbitmq-server")

    async def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            await _run(["rabbitmqctl", "-n", self.node, "stop"], self.folder / "ctl.log")
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        await wait_port(self.port, "rabbitmq-server", open_=False)


@dataclass
class PrivateServers:
    """The three stores, under one temp dir; ``async with`` starts them and cleans up."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="majlis-chaos-")))
    postgres: PrivatePostgres = field(init=False)
    redis: PrivateRedis = field(init=False)
    rabbit: PrivateRabbit = field(init=False)

    def __post_init__(self) -> None:
        self.root.chmod(0o755)  # the postgres and rabbitmq users walk into it
        self.postgres = PrivatePostgres(self.root / "postgres")
        self.redis = PrivateRedis(self.root / "redis")
        self.rabbit = PrivateRabbit(self.root / "rabbitmq")

    async def __aenter__(self) -> PrivateServers:
        try:
            await self.postgres.init()
            await asyncio.gather(self.postgres.start(), self.redis.start(), self.rabbit.start())
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop whatever still runs and delete the folder."""
        for stop in (self.redis.stop, self.rabbit.stop, self.postgres.stop):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stop(), 40)
        shutil.rmtree(self.root, ignore_errors=True)
