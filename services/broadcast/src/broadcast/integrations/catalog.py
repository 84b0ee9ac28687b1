"""The webhook event types a tenant may subscribe to, and their payloads.

Every payload is ``{"type": ..., "timestamp": <ISO 8601 UTC of the source event>, "data": {...}}``
with ids and the fields a CRM needs; the receiver reads more through the API. Each source
event of the platform maps to at most one webhook event (`to_webhook`).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import orjson

from majlis.events import Envelope

WebhookEventType = Literal[
    "message.received",
    "message.sent",
    "message.status",
    "conversation.assigned",
    "conversation.resolved",
    "lead.captured",
    "campaign.finished",
    "contact.changed",
    "template.status",
]
EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
TEST_EVENT = "webhook.test"

_STATUS_KEYS = ("message_id", "conversation_id", "status", "error_code")
_CONVERSATION_KEYS = ("conversation_id", "contact_id", "number_id", "actor_type", "actor_id")


def _pick(payload: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: payload.get(key) for key in keys}


def to_webhook(envelope: Envelope) -> tuple[str, dict[str, Any]] | None:
    """The webhook event type and `data` of a platform event; None if no webhook follows."""
    kind, payload = envelope.type, envelope.payload
    keys: tuple[str, ...]
    if kind == "inbox.message.stored":
        keys = ("message_id", "conversation_id", "contact_id", "number_id", "type", "wamid")
        return "message.received", _pick(payload, keys)
    if kind == "broadcast.message.sent":
        return "message.sent", _pick(payload, ("message_id", "wamid"))
    if kind == "inbox.echo.stored":
        # Sent from the WhatsApp Business app on the business's phone, not by the platform.
        return "message.sent", {**_pick(payload, ("message_id", "wamid")), "source": "business_app"}
    if kind == "inbox.message.status_changed":
        if payload.get("status") not in ("delivered", "read", "failed"):
            return None
        return "message.status", _pick(payload, _STATUS_KEYS)
    if kind == "inbox.conversation.updated":
        if payload.get("change") == "assignment":
            keys = (
                *_CONVERSATION_KEYS,
                "assigned_user_id",
                "previous_assigned_user_id",
                "team_id",
                "previous_team_id",
            )
            return "conversation.assigned", _pick(payload, keys)
        if payload.get("change") == "status" and payload.get("status") == "resolved":
            return "conversation.resolved", _pick(payload, _CONVERSATION_KEYS)
        return None
    if kind == "chatflow.lead.captured":
        keys = ("lead_id", "contact_id", "conversation_id", "stage", "source", "is_new")
        return "lead.captured", _pick(payload, keys)
    if kind == "broadcast.campaign.finished":
        return "campaign.finished", _pick(payload, ("campaign_id", "state", "counts"))
    if kind == "inbox.contact.changed":
        return "contact.changed", _pick(payload, ("contact_id", "change"))
    if kind == "inbox.contact.merged":
        data = {"contact_id": payload.get("source_id"), "change": "merged"}
        return "contact.changed", {**data, "merged_into": payload.get("target_id")}
    if kind == "inbox.contact.erased":
        return "contact.changed", {"contact_id": payload.get("contact_id"), "change": "erased"}
    if kind == "broadcast.template.updated":
        return "template.status", _pick(payload, ("template_id", "status"))
    return None


def body(event_type: str, envelope_time: str, data: dict[str, Any]) -> bytes:
    """The exact JSON body a delivery signs and sends."""
    return orjson.dumps({"type": event_type, "timestamp": envelope_time, "data": data})
