"""Test set-up: a database, a Redis key prefix and a bus name prefix of the suite's own.

`make test` prepares the database (majlis_test) from tests/test.env; the same values are forced
here, so even a plain `pytest` never touches what `make run` uses.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

RUN_ID = uuid.uuid4().hex[:8]

ROOT = Path(__file__).resolve().parent


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


TEST_ENV = {
    **_read_env_file(ROOT / "test.env"),
    "MAJLIS_REDIS_PREFIX": f"majlis-test:{RUN_ID}:",
    "MAJLIS_BUS_PREFIX": f"test.{RUN_ID}.",
}
for _name, _value in TEST_ENV.items():
    os.environ[_name] = _value  # always: the suite must never use `make run`'s resources


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis runs the profile MAJLIS_FUZZ_PROFILE names (ci: short and deterministic)."""
    from majlis.testing.fuzzing import load_profile

    load_profile()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many generated inputs each fuzz target was fed in this run."""
    from majlis.testing.fuzzing import INPUT_COUNTS, profile_name

    if INPUT_COUNTS:
        terminalreporter.section(f"fuzzing: generated inputs (profile {profile_name()})")
        for target, inputs in sorted(INPUT_COUNTS.items()):
            terminalreporter.write_line(f"{inputs:>10,}  {target}")


# Every line the run's code printed (structlog writes to stdout; pytest captures it per test),
# kept for the secret scanner, which runs last: tests/integration/test_secret_scan.py.
LOG_FILE = ROOT.parent / "var" / "test-logs" / f"{RUN_ID}.log"
os.environ["MAJLIS_TEST_LOG_FILE"] = str(LOG_FILE)
# The canary test and the scanner run after everything else (in this order), whatever -k or
# the folder order says, so the scanner sees the whole run's database and logs.
LAST = ("test_secret_canaries.py", "test_secret_scan.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers come from the folder a test lives in; the secret scan goes last."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if parts and parts[0] in {"unit", "integration", "e2e", "chaos"}:
            item.add_marker(getattr(pytest.mark, parts[0]))
    rank = {name: position for position, name in enumerate(LAST, 1)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).name, 0))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Append what a test phase printed (captured stdout/stderr/log) to the run's log file."""
    captured = [
        content
        for name, content in report.sections
        # stdout/stderr: what the code wrote (structlog renders to stdout, after redaction).
        # Not "Captured log": pytest's own handler formats raw stdlib records, bypassing ours.
        if name.startswith(("Captured stdout", "Captured stderr")) and name.endswith(report.when)
    ]
    if captured:
        LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
        with LOG_FILE.open("a", encoding="utf-8") as log:
            for content in captured:
                log.write(content if content.endswith("\n") else content + "\n")


@pytest.fixture(scope="session")
def settings() -> Any:
    from majlis.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
async def db_pool(settings: Any) -> AsyncIterator[Any]:
    """The application role's pool, exactly as services open it."""
    from majlis.db import create_pool

    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def owner_pool(settings: Any) -> AsyncIterator[Any]:
    """The owner role (migrations), for catalog checks and set-up that the app may not do."""
    from majlis.db import create_pool

    pool = await create_pool(settings.database_owner_url.get_secret_value(), min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def admin_pool(settings: Any) -> AsyncIterator[Any]:
    """A superuser on the test database: only to play an attacker or inspect raw rows."""
    from majlis.db import create_pool
    from majlis.db.setup import database_name

    admin = settings.database_admin_url.get_secret_value().rsplit("/", 1)[0]
    db = database_name(settings.database_url.get_secret_value())
    pool = await create_pool(f"{admin}/{db}", min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def tenant_factory(db_pool: Any) -> AsyncIterator[Any]:
    """Creates fresh tenants (RLS keeps tests apart) and deletes them, with all their rows."""
    from majlis.db import tenant_transaction

    created: list[uuid.UUID] = []

    async def make(name: str = "Test Co", plan: str = "starter") -> uuid.UUID:
        tenant_id = uuid.uuid4()
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute(
                "INSERT INTO tenants (id, name, plan) VALUES ($1, $2, $3)", tenant_id, name, plan
            )
        created.append(tenant_id)
        return tenant_id

    yield make
    for tenant_id in created:
        async with tenant_transaction(db_pool, tenant_id) as conn:
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)


@pytest.fixture(scope="session", autouse=True)
async def _release_run_resources(settings: Any) -> AsyncIterator[None]:
    """At the end of the run, delete this run's queues, exchanges and Redis keys."""
    yield
    import redis.asyncio as aioredis

    from majlis.messaging import PLATFORM_QUEUES, Bus, BusError, delete_topology

    try:
        bus = await Bus.connect(settings)
    except BusError:
        return
    try:
        channel = await bus.channel()
        await delete_topology(
            channel, settings.bus_prefix, PLATFORM_QUEUES, settings.bus_retry_delays_ms
        )
    finally:
        await bus.close()
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}*")]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()
