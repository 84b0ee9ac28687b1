"""Webhook payloads: the envelope of reference §3 and the items inside it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

ERRORS_HREF = (
    "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes"
)
FAILURE_DETAILS = {
    131026: ("Message undeliverable", "Message Undeliverable."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
}


@dataclass(frozen=True)
class Update:
    """One item for a webhook: a status, an inbound message, an echo, an address-book contact,
    or a template event."""

    waba_id: str
    field: str
    item: dict[str, Any]
    # The list the item goes in, for changes of a number: "statuses" or "messages" (field
    # "messages"), "message_echoes" (field "smb_message_echoes"), "state_sync" (field
    # "smb_app_state_sync").
    kind: str = ""
    metadata: dict[str, str] | None = None
    contact: dict[str, Any] | None = None
    wamid: str | None = None


def envelope(updates: list[Update], now: float) -> dict[str, Any]:
    """Group updates as Meta batches them: one entry per WABA, one change per number, field
    and kind."""
    entries: dict[str, dict[str, Any]] = {}
    changes: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for update in updates:
        entry = entries.setdefault(update.waba_id, {"id": update.waba_id, "changes": []})
        if update.metadata is None:
            entry["time"] = int(now)
            entry["changes"].append({"field": update.field, "value": update.item})
            continue
        key = (update.waba_id, update.field, update.kind, update.metadata["phone_number_id"])
        value = changes.get(key)
        if value is None:
            value = {"messaging_product": "whatsapp", "metadata": update.metadata}
            changes[key] = value
            entry["changes"].append({"field": update.field, "value": value})
        if update.contact is not None:
            contacts = value.setdefault("contacts", [])
            if all(c.get("wa_id") != update.contact.get("wa_id") for c in contacts):
                contacts.append(update.contact)
        value.setdefault(update.kind, []).append(update.item)
    return {"object": "whatsapp_business_account", "entry": list(entries.values())}


def status_item(
    wamid: str,
    status: str,
    timestamp: float,
    recipient_id: str,
    *,
    pricing: dict[str, Any] | None = None,
    conversation: dict[str, Any] | None = None,
    error_code: int | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` item."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(timestamp)),
        "recipient_id": recipient_id,
    }
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    if conversation is not None:
        item["conversation"] = conversation
    if pricing is not None:
        item["pricing"] = pricing
    if error_code is not None:
        title, details = FAILURE_DETAILS.get(error_code, ("Message failed", "Message failed."))
        item["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": ERRORS_HREF,
            }
        ]
    return item


def pricing(category: str, pricing_type: str) -> dict[str, Any]:
    """Per-message pricing (PMP) as on sent and delivered statuses."""
    return {
        "billable": pricing_type == "regular",
        "pricing_model": "PMP",
        "type": pricing_type,
        "category": category,
    }


def conversation(
    phone_number_id: str, wa_id: str, category: str, expires: float | None
) -> dict[str, Any]:
    """The ``conversation`` object that webhooks before v24.0 carry."""
    conversation_id = hashlib.sha256(f"{phone_number_id}:{wa_id}:{category}".encode()).hexdigest()
    item: dict[str, Any] = {"id": conversation_id[:32], "origin": {"type": category}}
    if expires is not None:
        item["expiration_timestamp"] = str(int(expires))
    return item


def has_conversation_object(api_version: str) -> bool:
    """Meta dropped ``conversation`` from status webhooks in v24.0 (reference §3.3)."""
    try:
        return int(api_version.lstrip("v").split(".")[0]) < 24
    except ValueError:
        return False


def contact(wa_id: str, name: str) -> dict[str, Any]:
    """The ``contacts[]`` item of an inbound message."""
    return {"profile": {"name": name}, "wa_id": wa_id}


def template_event(
    template_id: str,
    name: str,
    language: str,
    category: str,
    event: str,
    reason: str,
) -> dict[str, Any]:
    """The value of a ``message_template_status_update`` change."""
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
        "message_template_category": category,
    }
    if event == "REJECTED" and reason == "INVALID_FORMAT":
        value["rejection_info"] = {
            "reason": "The template does not follow the formatting rules.",
            "recommendation": "Review the template guidelines and submit it again.",
        }
    return value
