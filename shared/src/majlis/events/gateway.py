"""Events the gateway publishes (through its outbox)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from majlis.events.registry import Event, register_event


@register_event
class AuditRecorded(Event):
    """Something a person, an API key or the system did that the audit log must keep.

    ``action`` is a stable dotted name (``auth.login.succeeded``, ``team.role.changed``,
    ``numbers.created`` ...). ``details`` never holds secrets, tokens, passwords, phone
    numbers or message bodies.
    """

    routing_key = "gateway.audit.recorded"

    action: str
    outcome: Literal["success", "failure"] = "success"
    actor_type: Literal["user", "api_key", "anonymous", "system"]
    actor_id: UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    # Added later (optional, so older producers' events still decode).
    actor_role: str | None = None
    user_agent: str | None = None  # truncated to 256 characters by the producer
    request_id: str | None = None
    changes: list[str] = Field(default_factory=list)  # names of the fields that changed
