"""What every chatflow view shares: the caller, role checks, ids from paths, events and audit."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from majlis.events import Event, make_envelope
from majlis.events.chatflow import ChatflowAuditRecorded
from majlis.http import ProblemError
from majlis.http.audit_events import caller_audit_event
from majlis.http.auth import IDENTITY, Identity
from majlis.http.resources import AUTHENTICATOR
from majlis.http.tokens import Role
from majlis.messaging import add_to_outbox

ALL_ROLES: frozenset[Role] = frozenset({"owner", "admin", "agent", "viewer"})
MANAGER_ROLES: frozenset[Role] = frozenset({"owner", "admin"})


async def caller(request: web.Request, roles: frozenset[Role]) -> Identity:
    """The verified identity (401 without one), 403 unless it has one of `roles`."""
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    if identity.role not in roles:
        raise ProblemError(403, "Your role does not allow this", slug="forbidden-role")
    return identity


def path_id(request: web.Request, name: str, what: str) -> UUID:
    """A UUID from the path; anything else is not found (404), like another tenant's id."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, f"{what} not found") from None


async def emit(conn: Any, tenant_id: UUID, event: Event) -> None:
    """Queue an event in the caller's transaction (published only if it commits)."""
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


async def audit(
    conn: Any, request: web.Request, action: str, target_id: UUID, details: dict[str, Any]
) -> None:
    """Audit the caller's action on a flow (ids, names and counts only, never content)."""
    event = caller_audit_event(
        ChatflowAuditRecorded, request, action,
        target_type="flow", target_id=target_id, details=details,
    )  # fmt: skip
    await emit(conn, request[IDENTITY].tenant_id, event)
