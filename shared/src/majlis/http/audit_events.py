"""Audit events of a caller's request, built the same way in every service behind the gateway.

Each service publishes its own AuditRecorded subclass (its routing key); who acted, from where
and with which request id come from the verified identity and the gateway's headers here.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal, TypeVar
from uuid import UUID

from aiohttp import web

from majlis.events.gateway import AuditRecorded
from majlis.http.auth import IDENTITY
from majlis.http.middlewares import REQUEST_ID

USER_AGENT_MAX = 256
AuditEvent = TypeVar("AuditEvent", bound=AuditRecorded)


def forwarded_client_ip(request: web.Request) -> str | None:
    """The client address the gateway forwarded (it sets X-Forwarded-For to one address)."""
    value = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return request.remote


def caller_audit_event(
    event_type: type[AuditEvent],
    request: web.Request,
    action: str,
    *,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    details: dict[str, Any] | None = None,
    changes: list[str] | None = None,
    outcome: Literal["success", "failure"] = "success",
) -> AuditEvent:
    """The audit event of the request's caller; `details` hold ids and counts, never PII."""
    identity = request[IDENTITY]
    return event_type(
        action=action,
        outcome=outcome,
        actor_type="api_key" if identity.kind == "api_key" else "user",
        actor_id=identity.principal_id,
        actor_role=identity.role,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=forwarded_client_ip(request),
        user_agent=(request.headers.get("User-Agent") or "")[:USER_AGENT_MAX] or None,
        request_id=request.get(REQUEST_ID),
        details=details or {},
        changes=changes or [],
    )
