"""Events published by webhook-ingest: one per item of a verified Meta webhook.

Each carries the item exactly as Meta sent it (unknown fields included), so consumers can use
fields we do not model yet. The envelope's tenant_id is the tenant that owns the number (or
WABA); the envelope id of a redelivered webhook is the same as the first delivery's.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime

from majlis.events.registry import Event, register_event


@register_event
class MessageReceived(Event):
    """A user sent one message to one of the tenant's numbers (`messages[]` item)."""

    routing_key = "webhook_ingest.message.received"

    phone_number_id: str
    waba_id: str
    message: dict[str, Any]
    # The `contacts[]` entry of the sender (profile name, wa_id, user_id), when Meta sent one.
    contact: dict[str, Any] | None = None
    received_at: AwareDatetime


@register_event
class EchoReceived(Event):
    """The business sent a message from the WhatsApp Business app on its phone (coexistence).

    One `message_echoes[]` item of an `smb_message_echoes` change: `from` is the business's
    number, `to` the customer; the rest is shaped like an inbound message of the same type.
    """

    routing_key = "webhook_ingest.echo.received"

    phone_number_id: str
    waba_id: str
    message: dict[str, Any]
    received_at: AwareDatetime


@register_event
class ContactSyncReceived(Event):
    """The business added, edited or removed a contact in the WhatsApp Business app's address
    book (coexistence; once onboarded, Meta also sends every contact it had).

    One `state_sync[]` item of an `smb_app_state_sync` change, as Meta sent it: `type`
    "contact", `contact` {`phone_number`, `full_name`, `first_name`; no names on remove},
    `action` "add" (added or edited) or "remove", `metadata` {`timestamp`}.
    """

    routing_key = "webhook_ingest.contact_sync.received"

    phone_number_id: str
    waba_id: str
    change: dict[str, Any]
    received_at: AwareDatetime


@register_event
class HistoryReceived(Event):
    """Part of the WhatsApp Business app's chat history of the 180 days before the number was
    onboarded (coexistence, when the business agreed to share it): one thread of one chunk, or
    the full content of one media message of the history.

    `thread`: {`id`: the customer's number, `messages`: Meta's message objects; `from` is the
    customer, or the business for what it sent (with `to`); `history_context.status` is the
    message's last status; `type` "media_placeholder" for media whose content follows}.
    `chunk`: {`phase`, `chunk_order`, `progress`} as Meta sent them (empty for media content).
    `business`: the business's number (digits), to tell its messages from the customer's.
    """

    routing_key = "webhook_ingest.history.received"

    phone_number_id: str
    waba_id: str
    thread: dict[str, Any]
    chunk: dict[str, Any]
    business: str
    received_at: AwareDatetime


@register_event
class StatusReceived(Event):
    """Meta reported a status (sent, delivered, read, failed, played) of an outbound message."""

    routing_key = "webhook_ingest.status.received"

    phone_number_id: str
    waba_id: str
    status: dict[str, Any]
    received_at: AwareDatetime


@register_event
class TemplateStatusReceived(Event):
    """A `message_template_status_update` change for one of the tenant's WABAs."""

    routing_key = "webhook_ingest.template_status.received"

    waba_id: str
    value: dict[str, Any]
    entry_time: int | None = None
    received_at: AwareDatetime


@register_event
class PhoneQualityReceived(Event):
    """A `phone_number_quality_update` change (throughput / messaging limit of a number)."""

    routing_key = "webhook_ingest.phone_quality.received"

    waba_id: str
    value: dict[str, Any]
    entry_time: int | None = None
    received_at: AwareDatetime


@register_event
class AccountReceived(Event):
    """An `account_update` change (restrictions, bans, partner app removed, ...)."""

    routing_key = "webhook_ingest.account.received"

    waba_id: str
    value: dict[str, Any]
    entry_time: int | None = None
    received_at: AwareDatetime
