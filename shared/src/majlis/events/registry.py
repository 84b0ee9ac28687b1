"""The event base class and the registry that maps a wire type to its model."""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

# `<producer>.<entity>.<verb>` (commands: `command.<receiver>.<verb>`); lower case, at least
# three dot-separated words, and short enough to be an AMQP routing key.
ROUTING_KEY_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}$"
_ROUTING_KEY = re.compile(ROUTING_KEY_PATTERN)
_MAX_ROUTING_KEY = 255


class Event(BaseModel):
    """A message that crosses a process: frozen, strict about fields, named in the past tense."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The wire type and the routing key, e.g. `webhook_ingest.message.received`.
    routing_key: ClassVar[str]
    # Additive changes only; a breaking change is a new type (`....v2`), never a new version.
    schema_version: ClassVar[int] = 1


class UnknownEventType(LookupError):
    """An envelope names a type that no registered event has."""


EVENT_TYPES: dict[str, type[Event]] = {}

E = TypeVar("E", bound=Event)


def register_event(cls: type[E]) -> type[E]:
    """Class decorator: make an event decodable by its routing key; rejects duplicates."""
    key = getattr(cls, "routing_key", None)
    if not isinstance(key, str) or not _ROUTING_KEY.fullmatch(key) or len(key) > _MAX_ROUTING_KEY:
        raise ValueError(f"{cls.__name__}.routing_key must look like producer.entity.verb")
    if not isinstance(cls.schema_version, int) or cls.schema_version < 1:
        raise ValueError(f"{cls.__name__}.schema_version must be a positive integer")
    existing = EVENT_TYPES.get(key)
    if existing is not None:
        raise ValueError(f"event type {key!r} is already registered by {existing.__qualname__}")
    EVENT_TYPES[key] = cls
    return cls


def event_class(routing_key: str) -> type[Event]:
    """The registered model for a wire type; raises UnknownEventType."""
    try:
        return EVENT_TYPES[routing_key]
    except KeyError:
        raise UnknownEventType(routing_key) from None
