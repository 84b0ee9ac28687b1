"""Events and envelopes: round trips, strictness, and the registry's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from pydantic import ValidationError

from majlis.events import (
    EVENT_TYPES,
    Envelope,
    Event,
    UnknownEventType,
    decode_event,
    envelope_bytes,
    make_envelope,
    parse_envelope,
    register_event,
)

FIXED_NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


@register_event
class ThingHappened(Event):
    routing_key = "test.unit_thing.happened"

    thing_id: UUID
    name: str
    count: int = 0


def _envelope(**overrides: Any) -> Envelope:
    event = ThingHappened(thing_id=uuid4(), name="widget", count=3)
    env = make_envelope(event, tenant_id=uuid4(), clock=lambda: FIXED_NOW)
    return env.model_copy(update=overrides) if overrides else env


def test_envelope_round_trip_through_bytes() -> None:
    event = ThingHappened(thing_id=uuid4(), name="widget", count=3)
    tenant = uuid4()
    env = make_envelope(event, tenant_id=tenant, clock=lambda: FIXED_NOW)

    assert env.type == "test.unit_thing.happened"
    assert env.version == 1
    assert env.tenant_id == tenant
    assert env.occurred_at == FIXED_NOW
    assert env.correlation_id == env.id  # a new conversation of events correlates to itself
    assert env.causation_id is None

    again = parse_envelope(envelope_bytes(env))
    assert again == env
    assert decode_event(again) == event


def test_make_envelope_keeps_given_correlation_and_causation() -> None:
    correlation, causation = uuid4(), uuid4()
    env = make_envelope(
        ThingHappened(thing_id=uuid4(), name="x"),
        tenant_id=uuid4(),
        correlation_id=correlation,
        causation_id=causation,
    )
    assert (env.correlation_id, env.causation_id) == (correlation, causation)
    assert env.occurred_at.tzinfo is not None


def test_each_envelope_gets_a_new_id() -> None:
    event = ThingHappened(thing_id=uuid4(), name="x")
    tenant = uuid4()
    assert make_envelope(event, tenant_id=tenant).id != make_envelope(event, tenant_id=tenant).id


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValidationError):
        make_envelope(
            ThingHappened(thing_id=uuid4(), name="x"),
            tenant_id=uuid4(),
            clock=lambda: datetime(2025, 1, 1, 12, 0),  # naive on purpose
        )
    raw = orjson.loads(envelope_bytes(_envelope()))
    raw["occurred_at"] = "2025-01-01T12:00:00"
    with pytest.raises(ValidationError):
        parse_envelope(orjson.dumps(raw))


def test_other_offsets_are_normalised_to_utc() -> None:
    gulf = timezone(timedelta(hours=4))
    env = make_envelope(
        ThingHappened(thing_id=uuid4(), name="x"),
        tenant_id=uuid4(),
        clock=lambda: datetime(2025, 1, 1, 16, 0, tzinfo=gulf),
    )
    assert env.occurred_at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert env.occurred_at.utcoffset() == timedelta(0)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ThingHappened(thing_id=uuid4(), name="x", colour="red")  # type: ignore[call-arg]
    raw = orjson.loads(envelope_bytes(_envelope()))
    raw["extra"] = 1
    with pytest.raises(ValidationError):
        parse_envelope(orjson.dumps(raw))
    with pytest.raises(ValidationError):
        decode_event(_envelope(payload={"thing_id": str(uuid4()), "name": "x", "colour": "red"}))


def test_events_and_envelopes_are_frozen() -> None:
    event = ThingHappened(thing_id=uuid4(), name="x")
    with pytest.raises(ValidationError):
        event.name = "y"  # type: ignore[misc]
    env = _envelope()
    with pytest.raises(ValidationError):
        env.type = "test.other.thing"  # type: ignore[misc]


def test_invalid_payload_does_not_decode() -> None:
    with pytest.raises(ValidationError):
        decode_event(_envelope(payload={"thing_id": "not-a-uuid", "name": "x"}))


def test_garbage_bytes_do_not_parse() -> None:
    with pytest.raises(ValidationError):
        parse_envelope(b"{not json")
    with pytest.raises(ValidationError):
        parse_envelope(b'{"id": "x"}')


def test_duplicate_registration_is_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_event
        class SameKey(Event):
            routing_key = "test.unit_thing.happened"

    assert EVENT_TYPES["test.unit_thing.happened"] is ThingHappened


def test_badly_named_event_is_rejected() -> None:
    with pytest.raises(ValueError, match="routing_key"):

        @register_event
        class NoKey(Event):
            pass

    with pytest.raises(ValueError, match="routing_key"):

        @register_event
        class TwoWords(Event):
            routing_key = "thing.happened"


def test_unknown_type_raises() -> None:
    env = _envelope(type="test.nobody.registered")
    with pytest.raises(UnknownEventType):
        decode_event(env)
