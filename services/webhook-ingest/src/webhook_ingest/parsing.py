"""Split a verified webhook body into items: every entry x change x message / echo / status /
address-book contact.

Meta batches up to 1000 updates per POST and never promises one per request, so nothing here
reads index 0 only. Items keep the dicts exactly as Meta sent them (unknown fields included).
Whatever cannot be used is counted under a bounded label, never raised: one odd item must not
cost the rest of the batch. Only a body that is not a webhook envelope at all is an error.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

WHATSAPP_OBJECT = "whatsapp_business_account"
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ItemKind(StrEnum):
    """The kinds of webhook item that become events."""

    MESSAGE = "message"
    ECHO = "echo"
    STATUS = "status"
    CONTACT_SYNC = "contact_sync"
    HISTORY = "history"
    TEMPLATE_STATUS = "template_status"
    PHONE_QUALITY = "phone_quality"
    ACCOUNT = "account"


# Change fields routed by WABA id (they always arrive on the app's default URL).
_WABA_FIELDS: dict[str, ItemKind] = {
    "message_template_status_update": ItemKind.TEMPLATE_STATUS,
    "phone_number_quality_update": ItemKind.PHONE_QUALITY,
    "account_update": ItemKind.ACCOUNT,
}


# WhatsApp Business app coexistence: what the business sends from the app on its phone, the
# contacts of the app's address book (all of them once onboarded, then each added, edited or
# removed one), and the app's chat history of the 180 days before onboarding (if the business
# agreed to share it).
ECHOES_FIELD = "smb_message_echoes"
CONTACT_SYNC_FIELD = "smb_app_state_sync"
CONTACT_SYNC_ACTIONS = frozenset({"add", "remove"})
HISTORY_FIELD = "history"
_BY_NUMBER = frozenset(
    {ItemKind.MESSAGE, ItemKind.ECHO, ItemKind.STATUS, ItemKind.CONTACT_SYNC, ItemKind.HISTORY}
)


class WebhookShapeError(ValueError):
    """The body is JSON but not a webhook envelope (no `entry` list of objects)."""


@dataclass(frozen=True, slots=True)
class WebhookItem:
    """One routable unit of a webhook: a message, a status or a WABA-level change."""

    kind: ItemKind
    waba_id: str
    data: dict[str, Any]
    phone_number_id: str | None = None
    contact: dict[str, Any] | None = None
    entry_time: int | None = None

    @property
    def routes_by_number(self) -> bool:
        """True if the tenant is found by phone_number_id, False if by WABA id."""
        return self.kind in _BY_NUMBER


@dataclass(slots=True)
class ParsedWebhook:
    """The items of one webhook and what was skipped, as (label, reason) -> count."""

    items: list[WebhookItem] = field(default_factory=list)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)


def label(name: object) -> str:
    """A metrics/log label for a Meta field name; anything unusual becomes "other"."""
    return name if isinstance(name, str) and _LABEL.fullmatch(name) else "other"


def parse_webhook(document: object) -> ParsedWebhook:
    """Every item of a decoded webhook body; raises WebhookShapeError for a non-envelope."""
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        raise WebhookShapeError("not a webhook envelope")
    parsed = ParsedWebhook()
    if document.get("object") != WHATSAPP_OBJECT:
        # A product we do not handle (a well-formed envelope): counted, nothing routed.
        parsed.skipped[(label(document.get("object")), "unknown_object")] += 1
        return parsed
    for entry in document["entry"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            parsed.skipped[("entry", "malformed")] += 1
            continue
        waba_id = entry.get("id")
        entry_time = entry.get("time")
        for change in entry["changes"]:
            _parse_change(
                parsed,
                change,
                waba_id if isinstance(waba_id, str) else "",
                entry_time if isinstance(entry_time, int) else None,
            )
    return parsed


def _parse_change(
    parsed: ParsedWebhook, change: object, waba_id: str, entry_time: int | None
) -> None:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        parsed.skipped[("change", "malformed")] += 1
        return
    name = change.get("field")
    value: dict[str, Any] = change["value"]
    if name == "messages":
        _parse_messages_value(parsed, value, waba_id)
    elif name == ECHOES_FIELD:
        _parse_echoes_value(parsed, value, waba_id)
    elif name == CONTACT_SYNC_FIELD:
        _parse_state_sync_value(parsed, value, waba_id)
    elif name == HISTORY_FIELD:
        _parse_history_value(parsed, value, waba_id)
    elif isinstance(name, str) and name in _WABA_FIELDS:
        if not waba_id:
            parsed.skipped[(name, "malformed")] += 1
            return
        parsed.items.append(WebhookItem(_WABA_FIELDS[name], waba_id, value, entry_time=entry_time))
    else:
        parsed.skipped[(label(name), "unknown_kind")] += 1


def _parse_messages_value(parsed: ParsedWebhook, value: dict[str, Any], waba_id: str) -> None:
    phone_number_id = _number_of(value)
    messages = _list(value.get("messages"))
    statuses = _list(value.get("statuses"))
    if phone_number_id is None:
        parsed.skipped[("messages", "malformed")] += max(1, len(messages) + len(statuses))
        return
    # Out-of-band errors (e.g. a failed inbound media download) arrive without an item.
    if _list(value.get("errors")):
        parsed.skipped[("messages", "value_errors")] += 1
    if not messages and not statuses and not _list(value.get("errors")):
        parsed.skipped[("messages", "empty")] += 1
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
    for message in messages:
        if not isinstance(message, dict) or not _non_empty_str(message.get("id")):
            parsed.skipped[("message", "malformed")] += 1
            continue
        contact = _sender_contact(message, contacts, single=len(messages) == 1)
        parsed.items.append(
            WebhookItem(ItemKind.MESSAGE, waba_id, message, phone_number_id, contact=contact)
        )
    for status in statuses:
        if (
            not isinstance(status, dict)
            or not _non_empty_str(status.get("id"))
            or not _non_empty_str(status.get("status"))
        ):
            parsed.skipped[("status", "malformed")] += 1
            continue
        parsed.items.append(WebhookItem(ItemKind.STATUS, waba_id, status, phone_number_id))


def _parse_echoes_value(parsed: ParsedWebhook, value: dict[str, Any], waba_id: str) -> None:
    phone_number_id = _number_of(value)
    echoes = _list(value.get("message_echoes"))
    if phone_number_id is None:
        parsed.skipped[(ECHOES_FIELD, "malformed")] += max(1, len(echoes))
        return
    if not echoes:
        parsed.skipped[(ECHOES_FIELD, "empty")] += 1
    for echo in echoes:
        if not isinstance(echo, dict) or not _non_empty_str(echo.get("id")):
            parsed.skipped[("echo", "malformed")] += 1
            continue
        parsed.items.append(WebhookItem(ItemKind.ECHO, waba_id, echo, phone_number_id))


def _parse_state_sync_value(parsed: ParsedWebhook, value: dict[str, Any], waba_id: str) -> None:
    """`state_sync[]` items of type `contact`: {type, contact: {full_name, first_name,
    phone_number}, action: add | remove, metadata: {timestamp}} (names absent on remove)."""
    phone_number_id = _number_of(value)
    changes = _list(value.get("state_sync"))
    if phone_number_id is None:
        parsed.skipped[(CONTACT_SYNC_FIELD, "malformed")] += max(1, len(changes))
        return
    if not changes:
        parsed.skipped[(CONTACT_SYNC_FIELD, "empty")] += 1
    for change in changes:
        if isinstance(change, dict) and change.get("type") != "contact":
            parsed.skipped[("state_sync", "unknown_type")] += 1
            continue
        contact = change.get("contact") if isinstance(change, dict) else None
        if (
            not isinstance(contact, dict)
            or not _non_empty_str(contact.get("phone_number"))
            or change.get("action") not in CONTACT_SYNC_ACTIONS
        ):
            parsed.skipped[("contact_sync", "malformed")] += 1
            continue
        parsed.items.append(WebhookItem(ItemKind.CONTACT_SYNC, waba_id, change, phone_number_id))


def _parse_history_value(parsed: ParsedWebhook, value: dict[str, Any], waba_id: str) -> None:
    """A chat history chunk: `history[]` of {metadata: {phase, chunk_order, progress},
    threads: [{id: the customer's number, messages: [...]}]} (or {errors} when the business
    declined to share its history); or, for a media message of the history, `messages[]` with
    its full content. One item per thread, and one per such media message, each as
    {"thread": {"id", "messages"}, "chunk": metadata, "business": the business's number}."""
    phone_number_id = _number_of(value)
    chunks, media = _list(value.get("history")), _list(value.get("messages"))
    if phone_number_id is None:
        parsed.skipped[(HISTORY_FIELD, "malformed")] += max(1, len(chunks) + len(media))
        return
    metadata = value.get("metadata")
    business = _digits(metadata.get("display_phone_number") if isinstance(metadata, dict) else None)
    if not chunks and not media:
        parsed.skipped[(HISTORY_FIELD, "empty")] += 1
    for chunk in chunks:
        if not isinstance(chunk, dict):
            parsed.skipped[(HISTORY_FIELD, "malformed")] += 1
            continue
        if _list(chunk.get("errors")):
            # The business turned history sharing off in the app: nothing will come.
            parsed.skipped[(HISTORY_FIELD, "declined")] += 1
            continue
        info = chunk.get("metadata") if isinstance(chunk.get("metadata"), dict) else {}
        for thread in _list(chunk.get("threads")):
            messages = thread.get("messages") if isinstance(thread, dict) else None
            if (
                not isinstance(thread, dict)
                or not _non_empty_str(thread.get("id"))
                or not isinstance(messages, list)
                or not messages
            ):
                parsed.skipped[("history_thread", "malformed")] += 1
                continue
            data = {"thread": thread, "chunk": info, "business": business}
            parsed.items.append(WebhookItem(ItemKind.HISTORY, waba_id, data, phone_number_id))
    for message in media:
        if not isinstance(message, dict) or not _non_empty_str(message.get("id")):
            parsed.skipped[("history_message", "malformed")] += 1
            continue
        sender = _digits(message.get("from"))
        customer = _digits(message.get("to")) if sender == business else sender
        if not customer:
            parsed.skipped[("history_message", "malformed")] += 1
            continue
        thread = {"id": customer, "messages": [message]}
        data = {"thread": thread, "chunk": {}, "business": business}
        parsed.items.append(WebhookItem(ItemKind.HISTORY, waba_id, data, phone_number_id))


def _number_of(value: dict[str, Any]) -> str | None:
    """The phone_number_id of the business number a change is about (its `metadata`)."""
    metadata = value.get("metadata")
    found = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return found if isinstance(found, str) and found else None


def _digits(value: object) -> str:
    return "".join(ch for ch in value if ch.isdigit()) if isinstance(value, str) else ""


def _sender_contact(
    message: dict[str, Any], contacts: list[dict[str, Any]], *, single: bool
) -> dict[str, Any] | None:
    """The `contacts[]` entry of a message's sender: by wa_id, else by BSUID (user_id)."""
    sender, sender_user = message.get("from"), message.get("from_user_id")
    for contact in contacts:
        if sender and contact.get("wa_id") == sender:
            return contact
        if sender_user and contact.get("user_id") == sender_user:
            return contact
    # Meta warns that wa_id and `from` may differ; with one message and one contact in the
    # change, that contact can only be its sender.
    if single and len(contacts) == 1:
        return contacts[0]
    return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _non_empty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value)
