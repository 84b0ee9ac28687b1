"""Handlers of the inbox's two queues: event type -> handler.

`inbox.events` brings the customers' messages, the business's own from the WhatsApp Business
app (echoes), the contacts of its address book and its chat history, and the bot's actions
(`command.inbox.run_bot_actions`); `inbox.statuses` what happened to outbound messages: Meta's
statuses and the dispatcher's send results (sent, failed). Two queues, each consumed with its
own prefetch, so a campaign's flood of statuses never holds a customer's message back.
Templates, quality and account updates belong to the broadcast service and never come here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from inbox.deps import InboxDeps
from inbox.handlers import (
    on_contact_sync_received,
    on_echo_received,
    on_history_received,
    on_message_failed,
    on_message_received,
    on_message_sent,
    on_run_bot_actions,
    on_status_received,
)
from majlis.events import Envelope, Event
from majlis.events.broadcast import MessageFailed, MessageSent
from majlis.events.chatflow import RunBotActions
from majlis.events.webhook_ingest import (
    ContactSyncReceived,
    EchoReceived,
    HistoryReceived,
    MessageReceived,
    StatusReceived,
)
from majlis.messaging import Handler

DepsHandler = Callable[[Event, Envelope, InboxDeps], Awaitable[None]]

# Both queues are consumed with the whole table: what a queue held when its bindings changed
# (statuses in `inbox.events` before the split) is still handled, not dropped.
HANDLERS: dict[str, DepsHandler] = {
    MessageReceived.routing_key: on_message_received,
    EchoReceived.routing_key: on_echo_received,
    ContactSyncReceived.routing_key: on_contact_sync_received,
    HistoryReceived.routing_key: on_history_received,
    RunBotActions.routing_key: on_run_bot_actions,
    StatusReceived.routing_key: on_status_received,
    MessageSent.routing_key: on_message_sent,
    MessageFailed.routing_key: on_message_failed,
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
