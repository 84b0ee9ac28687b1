"""The dispatcher's command and events (broadcast service owns every send to Meta).

The send command carries what the dispatcher must send (recipient and content) only as
AES-256-GCM ciphertext (field ``commands.send_message``, bound to the tenant), so no phone
number or message body ever sits on the broker in clear.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from majlis.events.gateway import AuditRecorded
from majlis.events.registry import Event, register_event

SEND_PAYLOAD_FIELD = "commands.send_message"


@register_event
class SendMessage(Event):
    """Send one stored outbound message through the Graph API (a command to the dispatcher).

    ``payload_enc`` is base64 of the encrypted JSON ``{"to": ..., "message": {...}}`` where
    ``message`` is the Cloud API message object without ``messaging_product``/``to``.
    """

    routing_key = "command.broadcast.send_message"

    message_id: UUID
    conversation_id: UUID | None = None
    number_id: UUID
    priority: Literal["interactive", "bulk"] = "interactive"
    payload_enc: str = Field(min_length=1, max_length=200_000)


@register_event
class SendBulkMessage(SendMessage):
    """The same command for bulk traffic (campaigns): its own routing key, so its own queue.

    The routing key is fixed per event class, so the priority picks the class: publishers of
    bulk sends use this one and the dispatcher serves it after interactive sends.
    """

    routing_key = "command.broadcast.bulk.send_message"

    priority: Literal["interactive", "bulk"] = "bulk"


@register_event
class MessageSent(Event):
    """Meta accepted an outbound message and gave it a wamid."""

    routing_key = "broadcast.message.sent"

    message_id: UUID
    wamid: str = Field(min_length=1, max_length=255)
    # A bulk send (a campaign's): never an inbox message, which the inbox skips unread.
    bulk: bool = False


@register_event
class MessageFailed(Event):
    """An outbound message could not be sent (Meta's code and title, or a reason of ours)."""

    routing_key = "broadcast.message.failed"

    message_id: UUID
    error_code: int | None = None
    error_title: str | None = Field(default=None, max_length=200)
    retryable: bool = False
    # A bulk send (a campaign's): never an inbox message, which the inbox skips unread.
    bulk: bool = False


@register_event
class TemplateUpdated(Event):
    """A message template was created, changed status (Meta's review, pauses) or deleted."""

    routing_key = "broadcast.template.updated"

    template_id: UUID
    status: str = Field(min_length=1, max_length=40)


@register_event
class CampaignUpdated(Event):
    """A campaign changed state (created, scheduled, running, paused, resumed, deleted)."""

    routing_key = "broadcast.campaign.updated"

    campaign_id: UUID
    state: str = Field(min_length=1, max_length=20)


@register_event
class CampaignFinished(Event):
    """A campaign ended (completed or cancelled), with its final counts (no personal data)."""

    routing_key = "broadcast.campaign.finished"

    campaign_id: UUID
    state: Literal["completed", "cancelled"]
    counts: dict[str, int]


@register_event
class CampaignProgress(Event):
    """A sending campaign's funnel for the dashboards' live stream: at most one a second per
    campaign, only when it changed, and counts only (never a recipient or a phone number).
    ``progress`` has the shape of the campaign API's ``progress`` field."""

    routing_key = "broadcast.campaign.progress"

    campaign_id: UUID
    state: str = Field(min_length=1, max_length=20)
    progress: dict[str, int]


@register_event
class BroadcastAuditRecorded(AuditRecorded):
    """An audit event of the broadcast service (templates): the gateway's shape."""

    routing_key = "broadcast.audit.recorded"


@register_event
class WebhookEndpointDisabled(Event):
    """An outbound webhook endpoint kept failing and was disabled (owners and admins are told
    on the live stream). Ids and the reason only: never the URL's secret or a payload."""

    routing_key = "broadcast.webhook.disabled"

    endpoint_id: UUID
    reason: str = Field(min_length=1, max_length=200)
