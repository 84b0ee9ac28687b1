"""The envelope every bus message travels in: build, encode, parse and decode it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from majlis.events.registry import ROUTING_KEY_PATTERN, Event, event_class


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata around one event's payload; `type` is also the routing key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    type: str = Field(pattern=ROUTING_KEY_PATTERN, max_length=255)
    version: int = Field(ge=1)
    tenant_id: UUID
    occurred_at: AwareDatetime
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        # One representation on the wire, whatever offset the producer's clock used.
        return value.astimezone(UTC)


def make_envelope(
    event: Event,
    *,
    tenant_id: UUID,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Envelope:
    """Wrap an event for tenant `tenant_id`; a new conversation of events correlates to itself."""
    event_id = uuid4()
    return Envelope(
        id=event_id,
        type=event.routing_key,
        version=event.schema_version,
        tenant_id=tenant_id,
        occurred_at=clock(),
        correlation_id=event_id if correlation_id is None else correlation_id,
        causation_id=causation_id,
        payload=event.model_dump(mode="json"),
    )


def caused_by(event: Event, cause: Envelope) -> Envelope:
    """The envelope of an event that handling `cause` led to: the same tenant and correlation,
    `cause` as its causation."""
    return make_envelope(
        event, tenant_id=cause.tenant_id, correlation_id=cause.correlation_id, causation_id=cause.id
    )


def decode_event(envelope: Envelope) -> Event:
    """The typed event inside an envelope; raises UnknownEventType or ValidationError."""
    return event_class(envelope.type).model_validate(envelope.payload)


def envelope_bytes(envelope: Envelope) -> bytes:
    """The envelope as compact JSON bytes, for the wire or the outbox."""
    return orjson.dumps(envelope.model_dump(mode="json"))


def parse_envelope(raw: bytes) -> Envelope:
    """An envelope from JSON bytes; raises ValidationError on bad JSON or bad fields."""
    return Envelope.model_validate_json(raw)
