"""Handlers of the `inbox.events` queue, one table: event type -> handler.

`inbox.events` also receives `webhook_ingest.template_status/phone_quality/account.received`
and the rest of `broadcast.*`. The inbox leaves those to their owners (broadcast manages
templates and numbers; audit records every event): with no handler here the consumer acks and
ignores them. Of the dispatcher's events it takes the send results (sent, failed); of the
chatflow's commands, the bot's actions (`command.inbox.run_bot_actions`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from inbox.deps import InboxDeps
from inbox.handlers import (
    on_message_failed,
    on_message_received,
    on_message_sent,
    on_run_bot_actions,
    on_status_received,
)
from majlis.events import Envelope, Event
from majlis.events.broadcast import MessageFailed, MessageSent
from majlis.events.chatflow import RunBotActions
from majlis.events.webhook_ingest import MessageReceived, StatusReceived
from majlis.messaging import Handler

DepsHandler = Callable[[Event, Envelope, InboxDeps], Awaitable[None]]

HANDLERS: dict[str, DepsHandler] = {
    MessageReceived.routing_key: on_message_received,
    StatusReceived.routing_key: on_status_received,
    MessageSent.routing_key: on_message_sent,
    MessageFailed.routing_key: on_message_failed,
    RunBotActions.routing_key: on_run_bot_actions,
}


def bind_handlers(
    get_deps: Callable[[], InboxDeps], table: Mapping[str, DepsHandler] = HANDLERS
) -> dict[str, Handler]:
    """The table as consumer handlers; deps are fetched per call (they exist once started)."""

    def bind(handler: DepsHandler) -> Handler:
        async def handle(event: Event, envelope: Envelope) -> None:
            await handler(event, envelope, get_deps())

        return handle

    return {routing_key: bind(handler) for routing_key, handler in table.items()}
