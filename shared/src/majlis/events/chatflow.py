"""Events and commands of the chatflow service (flows, the bot, lead capture).

The bot's actions travel to the inbox (which owns messages, conversations and contacts) as one
command per engine step. What the bot says and what it sets on a contact is personal data, so
the actions ride only as AES-256-GCM ciphertext (field ``commands.bot_actions``, bound to the
tenant), like the dispatcher's ``SendMessage.payload_enc``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from majlis.events.gateway import AuditRecorded
from majlis.events.registry import Event, register_event

BOT_ACTIONS_FIELD = "commands.bot_actions"


@register_event
class RunBotActions(Event):
    """Apply what one step of a flow decided, in order, in one inbox transaction.

    ``actions_enc`` is base64 of the encrypted JSON list of actions, each one of
    ``{"kind": "send", "message": {<Cloud API message object>}}``,
    ``{"kind": "tag", "tags": [...]}``,
    ``{"kind": "update_contact", "name"?: ..., "email"?: ..., "attributes"?: {...}}``,
    ``{"kind": "handoff", "assign": "none"|"policy"|"user", "user_id"?: ..., "team_id"?: ...,
    "reason": ...}`` (with a team, "policy" picks one of its online members).

    ``step`` numbers the commands of one conversation 1, 2, 3, ... in the order the engine
    queued them, so the inbox applies them in that order although it consumes concurrently
    (None: an older producer's command, applied as it comes).
    """

    routing_key = "command.inbox.run_bot_actions"

    conversation_id: UUID
    session_id: UUID | None = None
    flow_id: UUID | None = None
    actions_enc: str = Field(min_length=1, max_length=400_000)
    step: int | None = Field(default=None, ge=1)


@register_event
class ChatflowAuditRecorded(AuditRecorded):
    """An audit event of the chatflow service (flows): the gateway's shape."""

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
