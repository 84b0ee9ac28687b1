"""Messages per day and number (analytics_daily_messages): counted by concurrent consumers'
transactions without one waiting on another's row, and exact as sums of the slots."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

from broadcast.analytics import repository as analytics
from majlis.db import tenant_transaction
from majlis.testing.db_sessions import sessions_on_two_slots


async def test_messages_counted_at_once_on_one_number_do_not_wait_on_each_other(
    db_pool: Any, tenant_factory: Any
) -> None:
    tenant_id = await tenant_factory()
    number_id, day = uuid.uuid4(), date(2026, 12, 7)
    async with sessions_on_two_slots(db_pool, tenant_id) as (first, second):
        await analytics.count_message(first, tenant_id, day, number_id, inbound=True)
        await second.execute("SET LOCAL lock_timeout = '2s'")
        # Slots by message id put two messages on one row one time in sixteen, and the
        # second transaction then waited for the first to end (here: a lock timeout).
        for _ in range(100):
            await asyncio.wait_for(
                analytics.count_message(second, tenant_id, day, number_id, inbound=False), 10
            )
    async with tenant_transaction(db_pool, tenant_id, "owner", readonly=True) as conn:
        totals = await conn.fetchrow(
            "SELECT sum(messages_in) AS inbound, sum(messages_out) AS outbound"
            " FROM analytics_daily_messages WHERE day = $1 AND number_id = $2",
            day,
            number_id,
        )
    assert totals is not None
    assert (totals["inbound"], totals["outbound"]) == (1, 100)
