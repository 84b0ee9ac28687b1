"""The inbox's dependencies, built by create_app and kept under typed application keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from majlis.crypto import BlindIndexer, FieldCipher
from majlis.meta import GraphClient
from majlis.presence import Presence

CIPHER: web.AppKey[FieldCipher] = web.AppKey("inbox_cipher", FieldCipher)
INDEXER: web.AppKey[BlindIndexer] = web.AppKey("inbox_indexer", BlindIndexer)
GRAPH: web.AppKey[GraphClient] = web.AppKey("inbox_graph", GraphClient)
PRESENCE: web.AppKey[Presence] = web.AppKey("inbox_presence", Presence)


@dataclass(frozen=True, slots=True)
class InboxDeps:
    """What the handlers need: the pool, field encryption, blind indexes, the Graph API."""

    pool: asyncpg.Pool[Any]
    cipher: FieldCipher
    indexer: BlindIndexer
    graph: GraphClient
    phone_region: str
    presence: Presence
    # Downloads held in memory at once (a file can be up to 100 MB, and is encrypted as a
    # copy); the consumer's prefetch would otherwise allow dozens.
    media_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))


INBOX_DEPS: web.AppKey[InboxDeps] = web.AppKey("inbox_deps", InboxDeps)
