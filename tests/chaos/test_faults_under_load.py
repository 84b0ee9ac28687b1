"""Faults under load, the short form `make test` runs (`make chaos` runs every fault).

The platform's six services run as real processes on private PostgreSQL, Redis and RabbitMQ
instances the run starts itself (free ports, a temp dir), so the machine's shared servers and a
running `make run` never notice. While the Graph API simulator delivers signed webhooks at a
steady rate (retrying those that got no 200), a bot answers each one and a campaign sends,
the inbox and the broadcast service are killed with SIGKILL and restarted and the broker is
stopped for a few seconds. Then: every webhook stored exactly once, every customer answered
once, every campaign recipient messaged once, the audit chain verifies, the queues drain.
"""

from __future__ import annotations

import os

import pytest

from majlis.testing.chaos import SHORT, run

pytestmark = pytest.mark.timeout(420)


async def test_nothing_is_lost_or_sent_twice_when_services_and_the_broker_fail() -> None:
    lines: list[str] = []
    report = await run(SHORT, dict(os.environ), lines.append)
    table = report.table()
    assert report.ok, "\n".join([*lines, table])
    assert {fault.name for fault in report.faults} == set(SHORT.faults)
    assert report.webhooks > 0
    assert report.retried > 0, "no fault made the simulator retry: the run proved nothing"
