"""Idempotent consumption: claim the event id in the same transaction as the work.

This is the tracking-table pattern (eventsourcing): the claim in `processed_messages` and the
handler's writes commit together or not at all, so a redelivered event finds its claim and
changes nothing, and a handler that failed left no claim behind and can be retried.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from majlis.db import opened_tenant_transaction
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


# Consumer names are code constants; checked anyway, as they are inlined in the opening query.
_CONSUMER_NAME = re.compile(r"[a-z0-9_.:-]{1,100}")


def _claim_first(consumer: str, envelope: Envelope) -> str:
    """The claim as a statement without parameters, for the transaction's opening round trip
    (its tenant and event ids are UUIDs, the consumer a checked name: none can hold a quote)."""
    if not _CONSUMER_NAME.fullmatch(consumer):
        raise ValueError(f"consumer name {consumer!r} is not a plain identifier")
    tenant_id, event_id = envelope.tenant_id, envelope.id
    if not (isinstance(tenant_id, UUID) and isinstance(event_id, UUID)):
        raise TypeError("the envelope's ids must be UUIDs")
    return (
        "INSERT INTO processed_messages (tenant_id, consumer, event_id)"  # noqa: S608
        f" VALUES ('{tenant_id}', '{consumer}', '{event_id}') ON CONFLICT DO NOTHING"
    )


async def claim_event(conn: asyncpg.Connection[Any], consumer: str, envelope: Envelope) -> bool:
    """Claim an event for a consumer inside the caller's transaction; False if already done."""
    # A concurrent duplicate blocks on the uncommitted row and then sees the conflict.
    claimed = await conn.fetchval(_CLAIM, envelope.tenant_id, consumer, envelope.id)
    return claimed is not None


def idempotent(pool: asyncpg.Pool[Any], consumer: str, fn: TransactionalHandler) -> Handler:
    """Wrap `fn(conn, event, envelope)` to run once per event, inside a tenant transaction."""

    async def handle(event: Event, envelope: Envelope) -> None:
        # The claim rides in the transaction's opening round trip (one fewer per event).
        async with opened_tenant_transaction(
            pool, envelope.tenant_id, "system", first=_claim_first(consumer, envelope)
        ) as (conn, status):
            if status != "INSERT 0 1":
                log.debug("bus.message.duplicate", consumer=consumer)
                return
            await fn(conn, event, envelope)

    return handle
