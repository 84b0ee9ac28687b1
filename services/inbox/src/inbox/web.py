"""What every inbox view shares: the caller, role checks, ids from paths, events and audit.

Views authenticate each request themselves (zero trust behind the gateway), open their
transaction with `caller_transaction` (tenant, role and user id from the verified token) and
write events and audit entries to the outbox in that same transaction.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from uuid import UUID

from aiohttp import web

from majlis.events import Event, make_envelope
from majlis.events.inbox import InboxAuditRecorded
from majlis.http import ProblemError
from majlis.http.auth import IDENTITY, Identity
from majlis.http.middlewares import REQUEST_ID
from majlis.http.resources import AUTHENTICATOR
from majlis.http.tokens import Role
from majlis.messaging import add_to_outbox

# Roles that work conversations; viewers read only.
AGENT_ROLES: frozenset[Role] = frozenset({"owner", "admin", "agent"})
MANAGER_ROLES: frozenset[Role] = frozenset({"owner", "admin"})
USER_AGENT_MAX = 256


async def caller(request: web.Request, roles: frozenset[Role] | None = None) -> Identity:
    """The verified identity of the request (401 without one), optionally limited to roles."""
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    if roles is not None:
        require_role(identity, roles)
    return identity


def require_role(identity: Identity, roles: frozenset[Role]) -> None:
    """403 unless the caller has one of `roles`."""
    if identity.role not in roles:
        raise ProblemError(403, "Your role does not allow this", slug="forbidden-role")


def path_id(request: web.Request, name: str, what: str) -> UUID:
    """A UUID from the path; anything else is simply not found (404), like another tenant's id."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, f"{what} not found") from None


def client_ip(request: web.Request) -> str | None:
    """The client address the gateway forwarded (it sets X-Forwarded-For to one address)."""
    value = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return request.remote


async def emit(conn: Any, tenant_id: UUID, event: Event) -> None:
    """Queue an event in the caller's transaction (published only if it commits)."""
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


async def audit(
    conn: Any,
    request: web.Request,
    action: str,
    *,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    details: dict[str, Any] | None = None,
    changes: list[str] | None = None,
    outcome: str = "success",
) -> None:
    """Audit an action of the request's caller, in the caller's transaction.

    `details` must never hold PII (phone numbers, names, message bodies): ids and counts only.
    """
    identity = request[IDENTITY]
    event = InboxAuditRecorded(
        action=action,
        outcome="failure" if outcome == "failure" else "success",
        actor_type="api_key" if identity.kind == "api_key" else "user",
        actor_id=identity.principal_id,
        actor_role=identity.role,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=client_ip(request),
        user_agent=(request.headers.get("User-Agent") or "")[:USER_AGENT_MAX] or None,
        request_id=request.get(REQUEST_ID),
        details=details or {},
        changes=changes or [],
    )
    await emit(conn, identity.tenant_id, event)
