"""What every inbox view shares: the caller, role checks, ids from paths, events and audit.

Views authenticate each request themselves (zero trust behind the gateway), open their
transaction with `caller_transaction` (tenant, role and user id from the verified token) and
write events and audit entries to the outbox in that same transaction.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from majlis.events import Event, make_envelope
from majlis.events.inbox import InboxAuditRecorded
from majlis.http import ProblemError
from majlis.http.audit_events import caller_audit_event
from majlis.http.auth import IDENTITY, Identity
from majlis.http.resources import AUTHENTICATOR
from majlis.http.tokens import Role
from majlis.messaging import add_to_outbox

# Roles that work conversations; viewers read only.
AGENT_ROLES: frozenset[Role] = frozenset({"owner", "admin", "agent"})
MANAGER_ROLES: frozenset[Role] = frozenset({"owner", "admin"})


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
    event = caller_audit_event(
        InboxAuditRecorded, request, action,
        target_type=target_type, target_id=target_id, details=details, changes=changes,
        outcome="failure" if outcome == "failure" else "success",
    )  # fmt: skip
    await emit(conn, request[IDENTITY].tenant_id, event)
