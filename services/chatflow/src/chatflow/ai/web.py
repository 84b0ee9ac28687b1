"""What the AI and lead views share: the caller, role checks, ids, cursors, events and audit.

Views authenticate each request themselves (zero trust behind the gateway), run their SQL in
`caller_transaction` (the caller's tenant and role) and write events and audit entries to the
outbox in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
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
AGENT_ROLES: frozenset[Role] = frozenset({"owner", "admin", "agent"})
MANAGER_ROLES: frozenset[Role] = frozenset({"owner", "admin"})
PAGE_DEFAULT, PAGE_MAX = 25, 100


async def caller(
    request: web.Request, roles: frozenset[Role], *, write_scope: str | None = None
) -> Identity:
    """The verified identity (401 without one), 403 unless it has one of `roles`.

    An API key (forwarded by the gateway with role "agent") must also hold `write_scope` for a
    write; a key's scope list is checked here as well as at the gateway (zero trust).
    """
    identity = await request.app[AUTHENTICATOR].authenticate(request)
    if identity.role not in roles:
        raise ProblemError(403, "Your role does not allow this", slug="forbidden-role")
    if (
        identity.kind == "api_key"
        and write_scope is not None
        and write_scope not in identity.scopes
    ):
        raise ProblemError(403, "The API key lacks the scope this endpoint needs",
                           slug="insufficient-scope", required_scope=write_scope)  # fmt: skip
    return identity


def path_id(request: web.Request, name: str, what: str) -> UUID:
    """A UUID from the path; anything else is not found (404), like another tenant's id."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, f"{what} not found") from None


def bad_query(field: str, message: str) -> ProblemError:
    """422 for one invalid query parameter."""
    error = {"field": field, "message": message, "code": "invalid"}
    return ProblemError(422, "Invalid query parameters", slug="invalid-query", errors=[error])


def page_limit(request: web.Request) -> int:
    """The `limit` query parameter, 1..PAGE_MAX."""
    text = request.query.get("limit", str(PAGE_DEFAULT))
    if not text.isdigit() or not 1 <= int(text) <= PAGE_MAX:
        raise bad_query("limit", f"Must be 1 to {PAGE_MAX}")
    return int(text)


def make_cursor(created_at: datetime, row_id: UUID) -> str:
    """An opaque keyset cursor."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def parse_cursor(request: web.Request) -> tuple[datetime, UUID] | None:
    """The `after` cursor, if given; 422 when it is not one of ours."""
    value = request.query.get("after")
    if value is None:
        return None
    try:
        stamp, _, ident = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
        return datetime.fromisoformat(stamp), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_query("after", "Not a valid cursor") from None


async def emit(conn: Any, tenant_id: UUID, event: Event) -> None:
    """Queue an event in the caller's transaction (published only if it commits)."""
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


async def audit(
    conn: Any,
    request: web.Request,
    action: str,
    target_type: str,
    target_id: UUID | None,
    *,
    details: dict[str, Any] | None = None,
    changes: list[str] | None = None,
) -> None:
    """Audit the caller's action (ids, counts and field names only: never content or PII)."""
    event = caller_audit_event(
        ChatflowAuditRecorded, request, action,
        target_type=target_type, target_id=target_id, details=details, changes=changes,
    )  # fmt: skip
    await emit(conn, request[IDENTITY].tenant_id, event)
