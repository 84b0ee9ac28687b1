"""The platform's queue bindings: every event type has a durable home, and no queue takes
events for nothing.

Publishes are mandatory, so an event type that no queue binds fails its publish (and its
outbox relay) whenever the one process whose private queue would take it is not running.
"""

from __future__ import annotations

import majlis.events.broadcast
import majlis.events.chatflow
import majlis.events.gateway
import majlis.events.inbox
import majlis.events.webhook_ingest
from gateway.consumers import LIVE_BINDINGS
from inbox.consumers import HANDLERS
from majlis.messaging.queues import GATEWAY_LIVE, INBOX_EVENTS, INBOX_STATUSES, PLATFORM_QUEUES

CATALOGUE = (
    majlis.events.broadcast,
    majlis.events.chatflow,
    majlis.events.gateway,
    majlis.events.inbox,
    majlis.events.webhook_ingest,
)
# Published by a gateway only, for the streams of every replica; the publishing replica's
# own queue always takes it, and a lost presence change is repaired by the next one.
GATEWAY_ONLY = frozenset({"gateway.presence.changed"})


def _matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` zero or more."""

    def match(words: list[str], keys: list[str]) -> bool:
        if not words:
            return not keys
        if words[0] == "#":
            return any(match(words[1:], keys[i:]) for i in range(len(keys) + 1))
        return bool(keys) and words[0] in ("*", keys[0]) and match(words[1:], keys[1:])

    return match(pattern.split("."), routing_key.split("."))


def _routing_keys() -> set[str]:
    keys = set()
    for module in CATALOGUE:
        for value in vars(module).values():
            key = getattr(value, "routing_key", None)
            if isinstance(key, str) and getattr(value, "__module__", "") == module.__name__:
                keys.add(key)
    return keys


def _queues_for(routing_key: str) -> set[str]:
    return {
        spec.name
        for spec in PLATFORM_QUEUES
        if any(_matches(pattern, routing_key) for pattern in spec.bindings)
    }


def test_topic_matching() -> None:
    assert _matches("inbox.#", "inbox.message.stored")
    assert _matches("#", "a.b")
    assert _matches("*.audit.recorded", "inbox.audit.recorded")
    assert not _matches("command.broadcast.*", "command.broadcast.bulk.send_message")
    assert _matches("command.broadcast.bulk.#", "command.broadcast.bulk.send_message")
    assert not _matches("inbox.media.stored", "inbox.media.stored.more")


def test_every_event_type_has_a_durable_queue() -> None:
    keys = _routing_keys()
    assert len(keys) > 20  # the catalogue was read
    unroutable = {key for key in keys if not _queues_for(key)}
    assert unroutable == GATEWAY_ONLY
    for key in GATEWAY_ONLY:
        assert any(_matches(pattern, key) for pattern in LIVE_BINDINGS)


def test_the_shared_live_queue_takes_only_what_nothing_else_consumes() -> None:
    taken = {key for key in _routing_keys() if GATEWAY_LIVE.name in _queues_for(key)}
    assert taken == {
        "inbox.media.stored",
        "broadcast.campaign.progress",
        "broadcast.campaign.updated",
        "broadcast.webhook.disabled",
    }
    assert all(_queues_for(key) == {GATEWAY_LIVE.name} for key in taken)
    assert all(any(_matches(pattern, key) for pattern in LIVE_BINDINGS) for key in taken)
    # Every live event still reaches the streams through the replicas' own queues.
    for key in _routing_keys():
        if key.startswith("inbox.") and key != "inbox.audit.recorded":
            assert any(_matches(pattern, key) for pattern in LIVE_BINDINGS), key


def test_the_inbox_queues_take_what_the_inbox_handles_and_nothing_else() -> None:
    """Customers' messages, the business app's echoes, address book and history, and the bot's
    commands in one queue, what happened to outbound messages in the other (a campaign's
    statuses never hold a customer's message back)."""
    events = {key for key in _routing_keys() if INBOX_EVENTS.name in _queues_for(key)}
    statuses = {key for key in _routing_keys() if INBOX_STATUSES.name in _queues_for(key)}
    assert events == {
        "webhook_ingest.message.received",
        "webhook_ingest.echo.received",
        "webhook_ingest.contact_sync.received",
        "webhook_ingest.history.received",
        "command.inbox.run_bot_actions",
    }
    assert statuses == {
        "webhook_ingest.status.received",
        "broadcast.message.sent",
        "broadcast.message.failed",
    }
    assert events | statuses == set(HANDLERS)
