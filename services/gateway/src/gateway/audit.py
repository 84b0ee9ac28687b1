"""Audit events: written to the outbox in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import asyncpg
from aiohttp import web

from gateway.routes import CLIENT_IP
from majlis.events import make_envelope
from majlis.events.gateway import AuditRecorded
from majlis.http.auth import IDENTITY
from majlis.http.middlewares import REQUEST_ID
from majlis.messaging import add_to_outbox

USER_AGENT_MAX = 256


async def record(
    conn: asyncpg.Connection[Any],
    tenant_id: UUID,
    action: str,
    *,
    actor_type: Literal["user", "api_key", "anonymous", "system"],
    actor_id: UUID | None = None,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    ip: str | None = None,
    outcome: Literal["success", "failure"] = "success",
    details: dict[str, Any] | None = None,
    correlation_id: UUID | None = None,
    actor_role: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    changes: list[str] | None = None,
) -> None:
    """Add one audit event to the outbox of the current tenant transaction."""
    event = AuditRecorded(
        action=action,
        outcome=outcome,
        actor_type=actor_type,
        actor_id=actor_id,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ip,
        details=details or {},
        actor_role=actor_role,
        # Bounded: the header is attacker-chosen and the audit log keeps it forever.
        user_agent=user_agent[:USER_AGENT_MAX] if user_agent else None,
        request_id=request_id,
        changes=changes or [],
    )
    await add_to_outbox(
        conn, make_envelope(event, tenant_id=tenant_id, correlation_id=correlation_id)
    )


async def by_caller(
    conn: asyncpg.Connection[Any],
    request: web.Request,
    action: str,
    *,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    details: dict[str, Any] | None = None,
    changes: list[str] | None = None,
) -> None:
    """Audit an action of the signed-in caller of `request`, from their client address."""
    identity = request[IDENTITY]
    await record(
        conn,
        identity.tenant_id,
        action,
        actor_type="user",
        actor_id=identity.principal_id,
        target_type=target_type,
        target_id=target_id,
        ip=request[CLIENT_IP],
        details=details,
        actor_role=identity.role,
        user_agent=request.headers.get("User-Agent"),
        request_id=request.get(REQUEST_ID),
        changes=changes,
    )
