"""Items to envelopes, with ids derived from the item so a redelivered webhook repeats them.

Meta redelivers for up to 7 days; the same item then yields the same envelope id, so every
consumer's processed-messages claim recognises it. The inbox's unique (tenant, wamid) remains
the real guard should this derivation ever change.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import orjson

from majlis.events import Envelope, Event
from majlis.events.webhook_ingest import (
    AccountReceived,
    ContactSyncReceived,
    EchoReceived,
    HistoryReceived,
    MessageReceived,
    PhoneQualityReceived,
    StatusReceived,
    TemplateStatusReceived,
)
from webhook_ingest.parsing import ItemKind, WebhookItem

# Fixed forever: changing it changes every event id (and defeats dedupe of redeliveries).
EVENT_ID_NAMESPACE = UUID("5d0c6f1e-7a7e-4b8e-9a55-2f4f1f1c9b10")


def event_id(item: WebhookItem, tenant_id: UUID) -> UUID:
    """The deterministic envelope id of an item for a tenant."""
    data = item.data
    if item.kind is ItemKind.MESSAGE:
        name = f"{tenant_id}|message|{data['id']}"
    elif item.kind is ItemKind.ECHO:
        name = f"{tenant_id}|echo|{data['id']}"
    elif item.kind is ItemKind.STATUS:
        # The key security.md §5.1 names for statuses: (wamid, status, timestamp).
        name = f"{tenant_id}|status|{data['id']}|{data['status']}|{data.get('timestamp', '')}"
    elif item.kind in (ItemKind.CONTACT_SYNC, ItemKind.HISTORY):
        # No id of their own; the item's bytes are one (a contact, its action and the second
        # it happened; a thread of a chunk, or one media message's content).
        name = f"{tenant_id}|{item.kind.value}|{item.phone_number_id}|{_digest(data)}"
    else:
        # WABA-level changes have no id of their own: the change's canonical bytes are one.
        name = f"{tenant_id}|{item.kind.value}|{item.waba_id}|{item.entry_time}|{_digest(data)}"
    return uuid5(EVENT_ID_NAMESPACE, name)


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def event_for(item: WebhookItem, received_at: datetime) -> Event:
    """The typed event of an item."""
    match item.kind:
        case ItemKind.MESSAGE:
            return MessageReceived(
                phone_number_id=item.phone_number_id or "",
                waba_id=item.waba_id,
                message=item.data,
                contact=item.contact,
                received_at=received_at,
            )
        case ItemKind.ECHO:
            return EchoReceived(
                phone_number_id=item.phone_number_id or "",
                waba_id=item.waba_id,
                message=item.data,
                received_at=received_at,
            )
        case ItemKind.CONTACT_SYNC:
            return ContactSyncReceived(
                phone_number_id=item.phone_number_id or "",
                waba_id=item.waba_id,
                change=item.data,
                received_at=received_at,
            )
        case ItemKind.HISTORY:
            return HistoryReceived(
                phone_number_id=item.phone_number_id or "",
                waba_id=item.waba_id,
                thread=item.data["thread"],
                chunk=item.data["chunk"],
                business=item.data["business"],
                received_at=received_at,
            )
        case ItemKind.STATUS:
            return StatusReceived(
                phone_number_id=item.phone_number_id or "",
                waba_id=item.waba_id,
                status=item.data,
                received_at=received_at,
            )
        case ItemKind.TEMPLATE_STATUS:
            return TemplateStatusReceived(
                waba_id=item.waba_id,
                value=item.data,
                entry_time=item.entry_time,
                received_at=received_at,
            )
        case ItemKind.PHONE_QUALITY:
            return PhoneQualityReceived(
                waba_id=item.waba_id,
                value=item.data,
                entry_time=item.entry_time,
                received_at=received_at,
            )
        case ItemKind.ACCOUNT:
            return AccountReceived(
                waba_id=item.waba_id,
                value=item.data,
                entry_time=item.entry_time,
                received_at=received_at,
            )


def envelope_for(item: WebhookItem, tenant_id: UUID, received_at: datetime) -> Envelope:
    """The envelope to publish for an item of `tenant_id`'s."""
    event = event_for(item, received_at)
    identifier = event_id(item, tenant_id)
    return Envelope(
        id=identifier,
        type=event.routing_key,
        version=event.schema_version,
        tenant_id=tenant_id,
        occurred_at=received_at,
        # Each webhook item starts a conversation of events of its own.
        correlation_id=identifier,
        payload=event.model_dump(mode="json"),
    )
