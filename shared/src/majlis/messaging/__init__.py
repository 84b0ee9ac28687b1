"""The bus: connection, topology, publisher with confirms, consumer runner, outbox relay."""

from majlis.messaging.connection import Bus, BusConnectionError, BusError
from majlis.messaging.consumer import Consumer, Handler
from majlis.messaging.idempotency import TransactionalHandler, claim_event, idempotent
from majlis.messaging.names import (
    dead_letter_exchange_name,
    dlq_name,
    exchange_name,
    queue_name,
    retry_queue_name,
)
from majlis.messaging.outbox import OutboxRelay, add_all_to_outbox, add_to_outbox
from majlis.messaging.publisher import Publisher, PublishError, connect_publisher
from majlis.messaging.queues import PLATFORM_QUEUES
from majlis.messaging.topology import QueueSpec, declare_topology, delete_topology

__all__ = [
    "PLATFORM_QUEUES",
    "Bus",
    "BusConnectionError",
    "BusError",
    "Consumer",
    "Handler",
    "OutboxRelay",
    "PublishError",
    "Publisher",
    "QueueSpec",
    "TransactionalHandler",
    "add_all_to_outbox",
    "add_to_outbox",
    "claim_event",
    "connect_publisher",
    "dead_letter_exchange_name",
    "declare_topology",
    "delete_topology",
    "dlq_name",
    "exchange_name",
    "idempotent",
    "queue_name",
    "retry_queue_name",
]
