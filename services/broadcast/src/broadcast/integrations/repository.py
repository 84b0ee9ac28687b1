"""SQL of outbound webhooks: endpoints and deliveries (0015).

Plain async functions, connection first, one statement each, `$n` parameters. Every function
taking a connection runs inside a tenant transaction (RLS); `due_deliveries` goes through a
SECURITY DEFINER function that returns ids only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Conn: TypeAlias = "asyncpg.Connection[Any]"
Row: TypeAlias = asyncpg.Record

# url: only a row written before 0019 and not sealed yet holds it; url_enc otherwise.
_ENDPOINT = (
    "id, url, url_enc, description, event_types, enabled, disabled_reason, secret_enc,"
    " previous_secret_enc, previous_secret_expires_at, failing_since, exhausted_in_row,"
    " created_at, updated_at"
)
_DELIVERY = (
    "id, endpoint_id, event_type, state, attempt, next_attempt_at, first_attempt_at,"
    " last_attempt_at, status_code, latency_ms, error_class, created_at, updated_at"
)


async def insert_endpoint(
    conn: Conn,
    endpoint_id: UUID,
    url_enc: bytes,
    description: str,
    event_types: Sequence[str],
    enabled: bool,
    secret_enc: bytes,
    created_by: UUID | None,
) -> Row:
    """A new endpoint."""
    row: Row | None = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (tenant_id, id, url_enc, description, event_types, enabled,"  # noqa: S608  (constant column list)
        " secret_enc, created_by) VALUES (app.current_tenant_id(), $1, $2, $3, $4, $5, $6, $7)"
        f" RETURNING {_ENDPOINT}",
        endpoint_id, url_enc, description, list(event_types), enabled, secret_enc, created_by,
    )  # fmt: skip
    assert row is not None  # INSERT ... RETURNING always returns the row
    return row


async def get_endpoint(conn: Conn, endpoint_id: UUID, *, lock: bool = False) -> Row | None:
    """One endpoint (of the current tenant), optionally locked for update."""
    suffix = " FOR UPDATE" if lock else ""
    row: Row | None = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = $1{suffix}",  # noqa: S608  (constant column list)
        endpoint_id,
    )
    return row


async def list_endpoints(conn: Conn, after: tuple[datetime, UUID] | None, limit: int) -> list[Row]:
    """Endpoints, newest first, after a keyset cursor."""
    if after is None:
        return list(
            await conn.fetch(
                f"SELECT {_ENDPOINT} FROM webhook_endpoints"  # noqa: S608  (constant column list)
                " ORDER BY created_at DESC, id DESC LIMIT $1",
                limit,
            )
        )
    return list(
        await conn.fetch(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE (created_at, id) < ($1, $2)"  # noqa: S608  (constant column list)
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            after[0],
            after[1],
            limit,
        )
    )


async def update_endpoint(
    conn: Conn,
    endpoint_id: UUID,
    url_enc: bytes,
    description: str,
    event_types: Sequence[str],
    enabled: bool,
    reset_failures: bool,
) -> Row | None:
    """Change an endpoint's settings (the URL sealed, any plaintext one cleared); enabling it
    again clears the failure counters."""
    row: Row | None = await conn.fetchrow(
        "UPDATE webhook_endpoints SET url_enc = $2, url = NULL, description = $3,"  # noqa: S608  (constant column list)
        " event_types = $4,"
        " enabled = $5, updated_at = now(),"
        " disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END,"
        " failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,"
        " exhausted_in_row = CASE WHEN $6 THEN 0 ELSE exhausted_in_row END"
        f" WHERE id = $1 RETURNING {_ENDPOINT}",
        endpoint_id, url_enc, description, list(event_types), enabled, reset_failures,
    )  # fmt: skip
    return row


async def delete_endpoint(conn: Conn, endpoint_id: UUID) -> bool:
    """Delete an endpoint and its deliveries; False if there was none."""
    done = await conn.fetchval(
        "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id", endpoint_id
    )
    return done is not None


async def rotate_secret(
    conn: Conn, endpoint_id: UUID, secret_enc: bytes, previous_enc: bytes, overlap_s: int
) -> Row | None:
    """Make `secret_enc` the secret; the old one keeps signing for `overlap_s` seconds."""
    row: Row | None = await conn.fetchrow(
        "UPDATE webhook_endpoints SET secret_enc = $2, previous_secret_enc = $3,"  # noqa: S608  (constant column list)
        " previous_secret_expires_at = now() + make_interval(secs => $4), updated_at = now()"
        f" WHERE id = $1 RETURNING {_ENDPOINT}",
        endpoint_id, secret_enc, previous_enc, float(overlap_s),
    )  # fmt: skip
    return row


async def subscribed_endpoints(conn: Conn, event_type: str) -> list[UUID]:
    """Enabled endpoints subscribed to `event_type`."""
    rows = await conn.fetch(
        "SELECT id FROM webhook_endpoints WHERE enabled AND $1 = ANY (event_types)", event_type
    )
    return [r["id"] for r in rows]


async def message_body(conn: Conn, message_id: UUID) -> tuple[bytes | None, UUID | None]:
    """The inbox's encrypted content of a message and its conversation (read only, for
    message webhooks); (None, None) if there is no such message."""
    row = await conn.fetchrow(
        "SELECT body_enc, conversation_id FROM messages WHERE id = $1", message_id
    )
    return (None, None) if row is None else (row["body_enc"], row["conversation_id"])


async def insert_delivery(
    conn: Conn,
    delivery_id: UUID,
    endpoint_id: UUID,
    source_event_id: UUID,
    event_type: str,
    payload_enc: bytes,
    conversation_id: UUID | None = None,
) -> bool:
    """Queue one delivery (once per endpoint and source event); False if it already was.
    `conversation_id`: the conversation whose message content the payload carries."""
    done = await conn.fetchval(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, source_event_id,"
        " event_type, payload_enc, conversation_id)"
        " VALUES (app.current_tenant_id(), $1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (tenant_id, endpoint_id, source_event_id) DO NOTHING RETURNING id",
        delivery_id, endpoint_id, source_event_id, event_type, payload_enc, conversation_id,
    )  # fmt: skip
    return done is not None


async def list_deliveries(
    conn: Conn, endpoint_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[Row]:
    """An endpoint's delivery log, newest first, after a keyset cursor."""
    if after is None:
        return list(
            await conn.fetch(
                f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1"  # noqa: S608  (constant column list)
                " ORDER BY created_at DESC, id DESC LIMIT $2",
                endpoint_id,
                limit,
            )
        )
    return list(
        await conn.fetch(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1"  # noqa: S608  (constant column list)
            " AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4",
            endpoint_id,
            after[0],
            after[1],
            limit,
        )
    )


async def redeliver(conn: Conn, endpoint_id: UUID, delivery_id: UUID) -> Row | None:
    """Queue a delivery again now, with a fresh retry schedule (same webhook-id)."""
    row: Row | None = await conn.fetchrow(
        "UPDATE webhook_deliveries SET state = 'pending', attempt = 0, first_attempt_at = NULL,"  # noqa: S608  (constant column list)
        " next_attempt_at = now(), updated_at = now()"
        f" WHERE id = $1 AND endpoint_id = $2 RETURNING {_DELIVERY}",
        delivery_id, endpoint_id,
    )  # fmt: skip
    return row


async def due_deliveries(pool: asyncpg.Pool[Any], limit: int) -> list[tuple[UUID, UUID, UUID]]:
    """(tenant_id, delivery_id, endpoint_id) of pending deliveries whose attempt is due."""
    rows = await pool.fetch(
        "SELECT tenant_id, delivery_id, endpoint_id FROM app.due_webhook_deliveries($1)", limit
    )
    return [(r["tenant_id"], r["delivery_id"], r["endpoint_id"]) for r in rows]


async def webhook_tenants(pool: asyncpg.Pool[Any]) -> list[UUID]:
    """Tenants with at least one endpoint (ids only)."""
    rows = await pool.fetch("SELECT tenant_id FROM app.webhook_tenants()")
    return [r["tenant_id"] for r in rows]


async def prune_deliveries(conn: Conn, older_than_days: int) -> int:
    """Delete finished deliveries older than the log's retention; how many went."""
    deleted = await conn.fetch(
        "DELETE FROM webhook_deliveries WHERE state <> 'pending'"
        " AND created_at < now() - make_interval(days => $1) RETURNING 1",
        older_than_days,
    )
    return len(deleted)


async def claim(conn: Conn, delivery_id: UUID, lease_s: float) -> Row | None:
    """Take a due delivery for one attempt: count it and push its next attempt one lease
    ahead (a worker that dies leaves it due again then). None if not due or taken."""
    row: Row | None = await conn.fetchrow(
        "UPDATE webhook_deliveries d SET attempt = d.attempt + 1,"
        " next_attempt_at = now() + make_interval(secs => $2),"
        " first_attempt_at = coalesce(d.first_attempt_at, now()), last_attempt_at = now(),"
        " updated_at = now()"
        " FROM webhook_endpoints e"
        " WHERE d.id = (SELECT id FROM webhook_deliveries WHERE id = $1 AND state = 'pending'"
        "               AND next_attempt_at <= now() FOR UPDATE SKIP LOCKED)"
        " AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id"
        " RETURNING d.id, d.endpoint_id, d.event_type, d.payload_enc, d.attempt,"
        " d.first_attempt_at, e.url, e.url_enc, e.enabled, e.secret_enc, e.previous_secret_enc,"
        " e.previous_secret_expires_at, now() AS claimed_at",
        delivery_id, lease_s,
    )  # fmt: skip
    return row


async def record_attempt(
    conn: Conn,
    delivery_id: UUID,
    attempt: int,
    state: str,
    next_in_s: float,
    status_code: int | None,
    latency_ms: int | None,
    error_class: str | None,
) -> Row | None:
    """The outcome of attempt `attempt` (ignored if the delivery moved on since)."""
    row: Row | None = await conn.fetchrow(
        "UPDATE webhook_deliveries SET state = $3,"
        " next_attempt_at = now() + make_interval(secs => $4), status_code = $5,"
        " latency_ms = $6, error_class = $7, updated_at = now()"
        " WHERE id = $1 AND attempt = $2 AND state = 'pending' RETURNING endpoint_id",
        delivery_id, attempt, state, next_in_s, status_code, latency_ms, error_class,
    )  # fmt: skip
    return row


async def endpoint_succeeded(conn: Conn, endpoint_id: UUID) -> None:
    """A delivery succeeded: the endpoint is healthy again."""
    await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL, exhausted_in_row = 0"
        " WHERE id = $1 AND (failing_since IS NOT NULL OR exhausted_in_row > 0)",
        endpoint_id,
    )


async def endpoint_exhausted(conn: Conn, endpoint_id: UUID, first_attempt_at: datetime) -> Row:
    """A delivery failed for good: count it; the endpoint's counters after."""
    row: Row | None = await conn.fetchrow(
        "UPDATE webhook_endpoints SET exhausted_in_row = exhausted_in_row + 1,"
        " failing_since = coalesce(failing_since, $2) WHERE id = $1"
        " RETURNING enabled, exhausted_in_row, failing_since, now() AS now",
        endpoint_id, first_attempt_at,
    )  # fmt: skip
    assert row is not None  # the delivery just recorded holds its endpoint (foreign key)
    return row


async def disable_endpoint(conn: Conn, endpoint_id: UUID, reason: str) -> bool:
    """Disable an enabled endpoint; False if it already was."""
    done = await conn.fetchval(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()"
        " WHERE id = $1 AND enabled RETURNING id",
        endpoint_id, reason,
    )  # fmt: skip
    return done is not None
