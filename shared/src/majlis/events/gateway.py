"""Events the gateway publishes (audit through its outbox; presence straight to the bus)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

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
    actor_type: Literal["user", "api_key", "anonymous", "system", "bot"]
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


@register_event
class PresenceChanged(Event):
    """Someone's presence changed: an agent's status, or viewing/typing in a conversation.

    Ephemeral: published straight to the bus (with confirms) for every gateway replica's live
    streams, never through the outbox. Ids and states only.
    """

    routing_key = "gateway.presence.changed"

    user_id: UUID
    scope: Literal["agent", "conversation"]
    state: Literal["online", "away", "offline", "viewing", "typing", "left"]
    conversation_id: UUID | None = None

    @model_validator(mode="after")
    def _conversation_only_with_its_scope(self) -> PresenceChanged:
        if (self.scope == "conversation") != (self.conversation_id is not None):
            raise ValueError("conversation_id is required for, and only for, conversation scope")
        return self
