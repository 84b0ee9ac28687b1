"""Idempotent consumption: claim the event id in the same transaction as the work.

This is the tracking-table pattern (eventsourcing): the claim in `processed_messages` and the
handler's writes commit together or not at all, so a redelivered event finds its claim and
changes nothing, and a handler that failed left no claim behind and can be retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from majlis.db import tenant_transaction
from majlis.events import Envelope, Event
from majlis.logging import get_logger
from majlis.messaging.consumer import Handler

log = get_logger(__name__)

# The string defers `Connection[Any]` to type checkers: asyncpg's class is not generic at runtime.
TransactionalHandler = Callable[["asyncpg.Connection[Any]", Event, Envelope], Awaitable[None]]

_CLAIM = """
INSERT INTO processed_messages (tenant_id, consumer, event_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING 1
"""


async def claim_event(conn: asyncpg.Connection[Any], consumer: str, envelope: Envelope) -> bool:
    """Claim an event for a consumer inside the caller's transaction; False if already done."""
    # A concurrent duplicate blocks on the uncommitted row and then sees the conflict.
    claimed = await conn.fetchval(_CLAIM, envelope.tenant_id, consumer, envelope.id)
    return claimed is not None


def idempotent(pool: asyncpg.Pool[Any], consumer: str, fn: TransactionalHandler) -> Handler:
    """Wrap `fn(conn, event, envelope)` to run once per event, inside a tenant transaction."""

    async def handle(event: Event, envelope: Envelope) -> None:
        async with tenant_transaction(pool, envelope.tenant_id, "system") as conn:
            if not await claim_event(conn, consumer, envelope):
                log.debug("bus.message.duplicate", consumer=consumer)
                return
            await fn(conn, event, envelope)

    return handle
