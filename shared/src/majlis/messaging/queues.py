"""The platform's consumer queues, in one place: one per consuming service, named for it."""

from __future__ import annotations

from majlis.messaging.topology import QueueSpec

# The inbox stores the customers' messages (and the echoes of what the business sent from the
# WhatsApp Business app, the contacts of the app's address book and its chat history) and
# applies what the bot decided (`command.inbox.*`: messages, tags, contact updates,
# hand-offs). Statuses and send results have a queue of their own (below): a campaign brings
# three statuses and a send result per recipient, thousands a second, and a customer's message
# must never wait behind them. It used to take every webhook_ingest and broadcast event, most
# of them only to drop them.
INBOX_EVENTS = QueueSpec(
    "inbox.events",
    (
        "webhook_ingest.message.received",
        "webhook_ingest.echo.received",
        "webhook_ingest.contact_sync.received",
        "webhook_ingest.history.received",
        "command.inbox.*",
    ),
    retired_bindings=("webhook_ingest.#", "broadcast.#"),
)
# What happened to outbound messages: Meta's statuses and the dispatcher's results.
INBOX_STATUSES = QueueSpec(
    "inbox.statuses",
    ("webhook_ingest.status.received", "broadcast.message.sent", "broadcast.message.failed"),
)
# Chatflows and bots react to stored inbound messages; the owner's companion answers the
# messages the inbox routes to it (`command.chatflow.*`).
CHATFLOW_EVENTS = QueueSpec("chatflow.events", ("inbox.message.stored", "command.chatflow.*"))
# Commands are imperative and go to their receiver alone. The dispatcher serves interactive
# sends (agent and bot replies) from this queue and bulk sends (campaigns) from its own queue,
# each with its own prefetch, so a reply is never stuck behind a campaign's backlog. `*` (one
# word) rather than `#`, which would also take `command.broadcast.bulk.*`.
BROADCAST_COMMANDS = QueueSpec(
    "broadcast.commands", ("command.broadcast.*",), retired_bindings=("command.broadcast.#",)
)
BROADCAST_BULK = QueueSpec("broadcast.bulk", ("command.broadcast.bulk.#",))
# The dispatcher settles sends whose outcome it lost (a crash between Meta's answer and its
# commit) from the status webhooks that echo biz_opaque_callback_data; template status
# webhooks update the templates' review status.
BROADCAST_EVENTS = QueueSpec(
    "broadcast.events",
    (
        "webhook_ingest.status.received",
        "webhook_ingest.template_status.received",
        # Campaigns: replies from recipients, and the numbers' messaging tiers.
        "webhook_ingest.message.received",
        "webhook_ingest.phone_quality.received",
        # The WhatsApp Business Account's own updates (bans, restrictions): kept on the
        # account's numbers for Settings.
        "webhook_ingest.account.received",
    ),
)
# Outbound webhooks: the events a tenant's endpoints may subscribe to, turned into one
# delivery per matching endpoint (broadcast.integrations).
BROADCAST_WEBHOOKS = QueueSpec(
    "broadcast.webhooks",
    (
        "inbox.message.stored",
        "inbox.message.status_changed",
        "inbox.conversation.updated",
        "inbox.contact.changed",
        "inbox.contact.merged",
        "inbox.contact.erased",
        "broadcast.message.sent",
        "inbox.echo.stored",
        "broadcast.campaign.finished",
        "broadcast.template.updated",
        "chatflow.lead.captured",
    ),
)
# Analytics (in the broadcast service) rolls up conversations, messages and leads. Its own
# queue: a backlog of rollups never delays the dispatcher's status settling.
BROADCAST_ANALYTICS = QueueSpec(
    "broadcast.analytics",
    (
        "inbox.conversation.updated",
        "inbox.message.stored",
        "inbox.message.added",
        "chatflow.lead.captured",
    ),
)
# The audit service records the audit events every producer publishes. It used to take every
# event ("#"), which put raw webhook payloads (bodies, phone numbers) on a second quorum queue
# for nothing and doubled the broker's work per webhook. Every event type must still be bound
# by some queue: publishes are mandatory and an unroutable event fails loudly.
AUDIT_EVENTS = QueueSpec("audit.events", ("*.audit.recorded",), retired_bindings=("#",))
# Live updates reach dashboards through each gateway replica's own classic queue (declared
# by the gateway). This shared durable queue is only the home of the events that nothing but
# live streams wants, so that their mandatory publishes stay routable while no gateway runs;
# the gateway drains it. It used to take every inbox, lead and webhook event, which cost a
# quorum-queue write per event (about eight per bot reply) that was dropped on arrival.
GATEWAY_LIVE = QueueSpec(
    "gateway.live",
    (
        "inbox.media.stored",
        "broadcast.campaign.progress",
        "broadcast.campaign.updated",
        "broadcast.webhook.disabled",
    ),
    retired_bindings=("inbox.#", "chatflow.lead.#", "broadcast.webhook.#"),
)

PLATFORM_QUEUES: tuple[QueueSpec, ...] = (
    INBOX_EVENTS,
    INBOX_STATUSES,
    CHATFLOW_EVENTS,
    BROADCAST_COMMANDS,
    BROADCAST_BULK,
    BROADCAST_EVENTS,
    BROADCAST_WEBHOOKS,
    BROADCAST_ANALYTICS,
    AUDIT_EVENTS,
    GATEWAY_LIVE,
)
