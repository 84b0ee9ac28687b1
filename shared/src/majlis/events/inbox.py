"""Events published by the inbox (through its outbox). Ids only: no bodies, no phone numbers."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from majlis.events.gateway import AuditRecorded
from majlis.events.registry import Event, register_event


class StoredWebhookMessage(Event):
    """The ids of a message a webhook brought, stored by the inbox once per tenant and wamid
    (not an event of its own: the two below are)."""

    message_id: UUID
    conversation_id: UUID
    contact_id: UUID
    number_id: UUID
    type: str
    wamid: str


@register_event
class MessageStored(StoredWebhookMessage):
    """An inbound message was stored (once per tenant and wamid)."""

    routing_key = "inbox.message.stored"


@register_event
class EchoStored(StoredWebhookMessage):
    """What the business sent from the WhatsApp Business app was stored (an echo, once per
    wamid). For the tenant's outbound webhooks (`message.sent`, as the dispatcher's sends are);
    the inbox's own announcement of the message is `inbox.message.added`."""

    routing_key = "inbox.echo.stored"


@register_event
class MediaStored(Event):
    """The file of an inbound media message was downloaded and stored (encrypted)."""

    routing_key = "inbox.media.stored"

    media_id: UUID
    message_id: UUID
    conversation_id: UUID
    mime_type: str
    size: int


@register_event
class ConversationUpdated(Event):
    """A conversation's status, assignee, team, controller (bot/human) or labels changed.

    ``change`` names what changed; the other fields are the conversation's state after it.
    """

    routing_key = "inbox.conversation.updated"

    conversation_id: UUID
    contact_id: UUID
    number_id: UUID
    change: Literal["created", "status", "assignment", "controller", "labels", "read"]
    status: Literal["open", "pending", "snoozed", "resolved"]
    assigned_user_id: UUID | None = None
    previous_assigned_user_id: UUID | None = None
    controller: Literal["bot", "human"] = "bot"
    actor_type: Literal["user", "api_key", "bot", "system"] = "system"
    actor_id: UUID | None = None
    # The conversation's team (teams of 0020) and, for an assignment, the one it had before.
    team_id: UUID | None = None
    previous_team_id: UUID | None = None


@register_event
class MessageAdded(Event):
    """An outbound message (queued for sending) or a private note was stored.

    Inbound messages are `inbox.message.stored`. ``mentions`` are the users a note mentions.
    ``number_id`` is the conversation's number (None from publishers older than analytics).
    """

    routing_key = "inbox.message.added"

    message_id: UUID
    conversation_id: UUID
    number_id: UUID | None = None
    direction: Literal["outbound", "note"]
    type: str
    # business_app: sent from the WhatsApp Business app on the business's phone (an echo).
    sender_kind: Literal["user", "api_key", "bot", "campaign", "system", "business_app"]
    sender_user_id: UUID | None = None
    mentions: list[UUID] = Field(default_factory=list)


@register_event
class MessageStatusChanged(Event):
    """An outbound message moved forward: sending, sent, delivered, read or failed."""

    routing_key = "inbox.message.status_changed"

    message_id: UUID
    conversation_id: UUID
    status: Literal["sending", "sent", "delivered", "read", "failed"]
    error_code: int | None = None


@register_event
class ContactMerged(Event):
    """Contact `source_id` was merged into `target_id` (and no longer exists)."""

    routing_key = "inbox.contact.merged"

    source_id: UUID
    target_id: UUID


@register_event
class ContactErased(Event):
    """A contact was erased (data-subject request or purge): other services drop their copies."""

    routing_key = "inbox.contact.erased"

    contact_id: UUID
    reason: Literal["erasure_request", "retention_purge"]


@register_event
class InboxAuditRecorded(AuditRecorded):
    """An audit event of the inbox (takeovers, exports, erasures): the gateway's shape."""

    routing_key = "inbox.audit.recorded"


@register_event
class ContactChanged(Event):
    """A contact was created or updated (merges and erasures have events of their own).

    Ids only: the contact's data stays encrypted and is read through the API.
    """

    routing_key = "inbox.contact.changed"

    contact_id: UUID
    change: Literal["created", "updated"]


COMPANION_MESSAGE_FIELD = "commands.companion_message"


@register_event
class CompanionMessageReceived(Event):
    """An owner wrote to the business number their companion is registered on.

    The inbox routes such a message here instead of the team inbox (no contact, conversation
    or message row is made). ``message_enc`` is base64 of the AES-256-GCM ciphertext (field
    ``commands.companion_message``, bound to the tenant) of ``{"from": "+9715...", "text": ...}``:
    the owner's number and words never ride in clear.
    """

    routing_key = "command.chatflow.companion_message"

    number_id: UUID
    wamid: str = Field(min_length=1, max_length=256)
    message_enc: str = Field(min_length=1, max_length=100_000)
