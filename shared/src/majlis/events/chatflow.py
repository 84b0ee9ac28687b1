"""Events of the chatflow service (flows, the AI bot, lead capture)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from majlis.events.gateway import AuditRecorded
from majlis.events.registry import Event, register_event


@register_event
class ChatflowAuditRecorded(AuditRecorded):
    """An audit event of the chatflow service: the gateway's shape."""

    routing_key = "chatflow.audit.recorded"


@register_event
class LeadCaptured(Event):
    """A lead was created or updated from a conversation, a flow, a person or the API.

    Ids, stage and source only: the lead's data (name, e-mail, phone, budget) stays encrypted
    in the database and is read through the API.
    """

    routing_key = "chatflow.lead.captured"

    lead_id: UUID
    contact_id: UUID
    conversation_id: UUID | None = None
    stage: Literal["new", "qualified", "won", "lost"]
    source: Literal["flow", "ai", "manual", "api"]
    is_new: bool
