"""Handlers of the `inbox.events` queue, one table: event type -> handler.

The table is empty until the inbox domain lands; the queue is declared at start so that nothing
published to it is lost, and consumption starts once a handler exists.
"""

from majlis.messaging import Handler

HANDLERS: dict[str, Handler] = {}
