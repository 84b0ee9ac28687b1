"""Events: every message that crosses a process, its envelope and the type registry.

Producers add one module each (``majlis.events.webhook_ingest``, ...) with
``@register_event`` models; a consumer process imports the modules whose events it handles.
"""

# Importing the producer modules registers their events, so any process that imports
# majlis.events can decode every event type of the platform.
from majlis.events import broadcast, chatflow, gateway, inbox, webhook_ingest
from majlis.events.envelope import (
    Envelope,
    caused_by,
    decode_event,
    envelope_bytes,
    make_envelope,
    parse_envelope,
    utc_now,
)
from majlis.events.registry import EVENT_TYPES, Event, UnknownEventType, register_event

__all__ = [
    "EVENT_TYPES",
    "Envelope",
    "Event",
    "UnknownEventType",
    "broadcast",
    "caused_by",
    "chatflow",
    "decode_event",
    "envelope_bytes",
    "gateway",
    "inbox",
    "make_envelope",
    "parse_envelope",
    "register_event",
    "utc_now",
    "webhook_ingest",
]
