"""tenant_transaction(): the one way to run tenant-scoped SQL.

It opens a transaction and sets ``app.tenant_id``, ``app.user_role`` and ``app.user_id`` with
``set_config(..., true)``: transaction-local, so a connection returned to the pool carries no
tenant. The policies in the database key on these settings; a query made without them raises.
The session is reset (settings, advisory locks, cursors, listeners) in the same round trip,
before BEGIN: each round trip costs ~0.1 ms of a service's CPU, and a short transaction made
five (reset, BEGIN, context, query, COMMIT) where it now makes three.
`opened_tenant_transaction` can add one statement without parameters to that round trip
(the idempotent consumers' claim of their event) and reports its command status.

After a commit it wakes this process's outbox relays if the transaction queued events
(`note_outbox_write`, called by add_to_outbox), so an event leaves within milliseconds instead
of at the relay's next poll. Only the outbox's own relays listen; a transaction opened any other
way is still relayed, at the next poll.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Literal, cast
from uuid import UUID

import asyncpg

DbRole = Literal["owner", "admin", "agent", "viewer", "system"]
_ROLES: frozenset[str] = frozenset({"owner", "admin", "agent", "viewer", "system"})

# One round trip opens every tenant transaction: the session reset asyncpg would otherwise
# send on the connection's release (majlis.db.pool), BEGIN, and the tenant context. The
# values are inlined (a simple query takes no parameters): a UUID's text and a role from
# _ROLES can hold no quote.
_RESET_SESSION = "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;"
_OPEN = (
    _RESET_SESSION + " BEGIN{mode};"
    " SELECT set_config('app.tenant_id', '{tenant}', true),"
    " set_config('app.user_role', '{role}', true),"
    " set_config('app.user_id', '{user}', true)"
)


# Whether the current transaction (of this task) queued outbox rows.
_wrote_outbox: ContextVar[bool] = ContextVar("majlis_wrote_outbox", default=False)
# Called after such a transaction commits: the relays of this process (OutboxRelay.wake).
_outbox_wakers: set[Callable[[], None]] = set()


def note_outbox_write() -> None:
    """The current transaction queued outbox rows: wake the relays once it commits."""
    _wrote_outbox.set(True)


def add_outbox_waker(wake: Callable[[], None]) -> None:
    _outbox_wakers.add(wake)


def remove_outbox_waker(wake: Callable[[], None]) -> None:
    _outbox_wakers.discard(wake)


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool[Any],
    tenant_id: UUID,
    role: DbRole = "system",
    *,
    user_id: UUID | None = None,
    readonly: bool = False,
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """Run a transaction as tenant ``tenant_id`` acting in ``role`` (a user's role or "system")."""
    async with opened_tenant_transaction(
        pool, tenant_id, role, user_id=user_id, readonly=readonly
    ) as (conn, _):
        yield conn


@asynccontextmanager
async def opened_tenant_transaction(
    pool: asyncpg.Pool[Any],
    tenant_id: UUID,
    role: DbRole = "system",
    *,
    user_id: UUID | None = None,
    readonly: bool = False,
    first: str = "",
) -> AsyncIterator[tuple[asyncpg.Connection[Any], str]]:
    """`tenant_transaction`, with `first` (one statement without parameters, built only from
    values that cannot hold a quote) run in the opening round trip, after the tenant context:
    yields the connection and the command status of that statement (``INSERT 0 1``), or of
    the context's SELECT when there is none. The idempotent consumers claim their event so."""
    if not isinstance(tenant_id, UUID):
        raise TypeError("tenant_id must be a UUID")
    if user_id is not None and not isinstance(user_id, UUID):
        raise TypeError("user_id must be a UUID")
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r}")
    if ";" in first:
        raise ValueError("first must be one statement")
    opening = _OPEN.format(
        mode=" READ ONLY" if readonly else "", tenant=tenant_id, role=role, user=user_id or ""
    )
    if first:
        opening = f"{opening}; {first}"
    outer = _wrote_outbox.get()  # a transaction opened inside another keeps its own mark
    _wrote_outbox.set(False)
    try:
        async with pool.acquire() as conn:
            status = await conn.execute(opening)
            try:
                # The pool hands out a proxy that behaves as a Connection for every call.
                yield cast("asyncpg.Connection[Any]", conn), status
            except BaseException:
                # Should the rollback fail (a broken connection), the pool rolls back or
                # discards the connection on release.
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
        committed_events = _wrote_outbox.get()
    finally:
        _wrote_outbox.set(outer)
    if committed_events:
        for wake in tuple(_outbox_wakers):
            wake()
