"""The campaign runner is a loop that must outlive a PostgreSQL restart (so is the sweeper,
which had the same gap and the same one-line fix).

Found by `make chaos`: after PostgreSQL restarted mid-campaign, the runner's task ended on an
asyncpg.InterfaceError (a connection the server had dropped), which its loop did not catch,
and the campaign never fed another recipient, with nothing in the log. A closed pool gives
the same error on every acquire, so it stands in for the lost connection here.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from structlog.testing import capture_logs

from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.db import create_pool


async def _failures(
    logs: list[MutableMapping[str, Any]], event: str, count: int, task: asyncio.Task[None]
) -> None:
    """Wait for ``count`` logged failures; a loop that died instead re-raises its error."""
    async with asyncio.timeout(30):
        while sum(entry["event"] == event for entry in logs) < count:
            if task.done():
                task.result()
                raise AssertionError("the loop ended without being told to stop")
            await asyncio.sleep(0.02)


async def test_the_campaign_runner_keeps_running_when_its_connections_are_gone(
    settings: Any,
) -> None:
    from broadcast.campaign_lifecycle import CampaignDeps
    from broadcast.campaign_runner import CampaignRunner, RunnerConfig

    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    await pool.close()  # every acquire now raises asyncpg.InterfaceError
    deps = CampaignDeps(
        pool,
        FieldCipher(KeyRing.from_settings(settings)),
        BlindIndexer.from_settings(settings),
        "AE",
    )
    runner = CampaignRunner(deps, RunnerConfig(interval_s=0.01))
    with capture_logs() as logs:
        task = asyncio.create_task(runner.run())
        await _failures(logs, "campaign.runner_failed", 3, task)
        assert not task.done()  # still looping: it tried again after each failure
        await runner.stop()
        await task  # ends because it was told to, not with the error
    [first, *_] = [entry for entry in logs if entry["event"] == "campaign.runner_failed"]
    assert first["error_type"] == "InterfaceError"
