"""Events published by the inbox (through its outbox). Ids only: no bodies, no phone numbers."""

from __future__ import annotations

from uuid import UUID

from majlis.events.registry import Event, register_event


@register_event
class MessageStored(Event):
    """An inbound message was stored (once per tenant and wamid)."""

    routing_key = "inbox.message.stored"

    message_id: UUID
    conversation_id: UUID
    contact_id: UUID
    number_id: UUID
    type: str
    wamid: str


@register_event
class MediaStored(Event):
    """The file of an inbound media message was downloaded and stored (encrypted)."""

    routing_key = "inbox.media.stored"

    media_id: UUID
    message_id: UUID
    conversation_id: UUID
    mime_type: str
    size: int
