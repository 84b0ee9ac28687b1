"""`broadcast.webhooks`: each subscribed platform event becomes one delivery per endpoint.

Idempotent twice over: the event is claimed once per consumer (processed_messages) and a
delivery is unique per (endpoint, source event id), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from broadcast.integrations import catalog
from broadcast.integrations import repository as repo
from majlis.crypto import DecryptionError, FieldCipher
from majlis.db import opened_tenant_transaction
from majlis.events import Envelope, Event
from majlis.logging import get_logger
from majlis.messaging import Handler, claim_event
from majlis.messaging.queues import BROADCAST_WEBHOOKS

log = get_logger(__name__)
CONSUMER = "broadcast.webhooks"
PAYLOAD_FIELD = "webhook_deliveries.payload"
SECRET_FIELD = "webhook_endpoints.secret"  # noqa: S105  # a field name, not a secret
PREVIOUS_SECRET_FIELD = "webhook_endpoints.previous_secret"  # noqa: S105  # a field name
URL_FIELD = "webhook_endpoints.url"
MESSAGE_BODY_FIELD = "messages.body"  # the inbox's encrypted message content
WITH_CONTENT = frozenset({"message.received", "message.sent"})


@dataclass(frozen=True, slots=True)
class WebhookDeps:
    """What the webhook consumers, worker and views share."""

    pool: asyncpg.Pool[Any]
    cipher: FieldCipher


def endpoint_url(cipher: FieldCipher, tenant_id: UUID, row: Any) -> str:
    """An endpoint row's URL: sealed (url_enc), or a row from before 0019 not sealed yet."""
    if row["url_enc"] is not None:
        return cipher.decrypt_text(row["url_enc"], tenant_id=tenant_id, field=URL_FIELD)
    plain: str = row["url"]
    return plain


async def enqueue(
    conn: repo.Conn,
    cipher: FieldCipher,
    tenant_id: UUID,
    endpoint_id: UUID,
    source_event_id: UUID,
    event_type: str,
    timestamp: str,
    data: dict[str, Any],
    conversation_id: UUID | None = None,
) -> UUID | None:
    """Queue one delivery to one endpoint; its id, or None if it was queued before.
    `conversation_id`: the conversation whose message content `data` carries (an erasure of
    its contact deletes the delivery)."""
    delivery_id = uuid4()
    body = catalog.body(event_type, timestamp, data)
    sealed = cipher.encrypt(body, tenant_id=tenant_id, field=PAYLOAD_FIELD)
    done = await repo.insert_delivery(
        conn, delivery_id, endpoint_id, source_event_id, event_type, sealed, conversation_id
    )
    return delivery_id if done else None


async def message_content(
    conn: repo.Conn, cipher: FieldCipher, tenant_id: UUID, message_id: Any
) -> tuple[Any, UUID | None]:
    """The message's content as the inbox stores it (the Cloud API message object without
    the envelope fields), or None when the inbox has no readable body for it (yet); and the
    message's conversation, or None without such a message."""
    try:
        sealed, conversation_id = await repo.message_body(conn, UUID(str(message_id)))
    except ValueError:
        return None, None
    if sealed is None:
        return None, conversation_id
    try:
        plain = cipher.decrypt(sealed, tenant_id=tenant_id, field=MESSAGE_BODY_FIELD)
        return orjson.loads(plain), conversation_id
    except (DecryptionError, orjson.JSONDecodeError):
        return None, conversation_id


def any_subscribed(event_type: str) -> str:
    """The opening statement that tells whether an enabled endpoint takes `event_type`: its
    command status is ``SELECT 0`` or ``SELECT 1``. The type is inlined, so only the
    catalogue's own names (which hold no quote) are accepted."""
    if event_type not in catalog.EVENT_TYPES:
        raise ValueError(f"not a webhook event type: {event_type!r}")
    return (
        "SELECT 1 FROM webhook_endpoints"  # noqa: S608  (a name from the catalogue, checked)
        f" WHERE enabled AND '{event_type}' = ANY (event_types) LIMIT 1"
    )


def on_platform_event(get: Callable[[], WebhookDeps]) -> Handler:
    """Fan a platform event out to the tenant's endpoints subscribed to its webhook type."""

    async def handle(_event: Event, envelope: Envelope) -> None:
        mapped = catalog.to_webhook(envelope)
        if mapped is None:
            return
        event_type, data = mapped
        deps = get()
        timestamp = envelope.occurred_at.isoformat().replace("+00:00", "Z")
        async with opened_tenant_transaction(
            deps.pool, envelope.tenant_id, first=any_subscribed(event_type)
        ) as (conn, found):
            # Most tenants subscribe to few types: no endpoint, no write (nothing to repeat),
            # and no round trip after the opening one.
            if found == "SELECT 0":
                return
            queued, endpoints = 0, await repo.subscribed_endpoints(conn, event_type)
            if not endpoints or not await claim_event(conn, CONSUMER, envelope):
                return
            conversation_id = None
            if event_type in WITH_CONTENT:
                # Bodies only here: the receiver is the tenant's own system, and a CRM
                # needs the text of the conversation.
                content, conversation_id = await message_content(
                    conn, deps.cipher, envelope.tenant_id, data.get("message_id")
                )
                data = {**data, "content": content}
            for endpoint_id in endpoints:
                delivery = await enqueue(
                    conn, deps.cipher, envelope.tenant_id, endpoint_id, envelope.id,
                    event_type, timestamp, data, conversation_id,
                )  # fmt: skip
                queued += delivery is not None
        if queued:
            log.info("webhook.queued", event_type=event_type, deliveries=queued)

    return handle


def handlers(get: Callable[[], WebhookDeps]) -> dict[str, Handler]:
    """The queue's table: every bound routing key to the same fan-out."""
    handler = on_platform_event(get)
    return dict.fromkeys(BROADCAST_WEBHOOKS.bindings, handler)
