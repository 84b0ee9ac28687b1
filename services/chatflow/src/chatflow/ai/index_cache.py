"""Per-tenant search indexes kept in memory, rebuilt when the tenant's version stamp moves.

A question costs one small read (the version and the settings) instead of decrypting the whole
knowledge base: the decrypted index is built once per change of `knowledge_versions.version`
(bumped in the transaction of every knowledge-base change, so every replica notices) and kept
for the most recently used tenants only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any
from uuid import UUID

from chatflow.ai import repository as repo
from chatflow.ai.bm25 import Bm25Index, Passage
from chatflow.ai.knowledge import (
    TEXT_FIELD,
    TITLE_FIELD,
    document_passages,
    entry_passage,
    open_entry,
)
from majlis.crypto import FieldCipher
from majlis.logging import get_logger

log = get_logger(__name__)


class IndexCache:
    """Up to `capacity` tenants' indexes, least recently used evicted first."""

    def __init__(self, cipher: FieldCipher, capacity: int) -> None:
        """Decrypt with `cipher`; keep at most `capacity` tenants."""
        self._cipher = cipher
        self._capacity = capacity
        self._items: OrderedDict[UUID, tuple[int, Bm25Index]] = OrderedDict()
        self._locks: dict[UUID, asyncio.Lock] = {}
        self.builds = 0  # how many indexes were built (observable in tests and metrics)

    async def index_for(self, conn: Any, tenant_id: UUID, version: int) -> Bm25Index:
        """The tenant's index at `version`, built from `conn`'s snapshot when stale."""
        cached = self._items.get(tenant_id)
        if cached is not None and cached[0] == version:
            self._items.move_to_end(tenant_id)
            return cached[1]
        # One build per tenant at a time: concurrent questions after a change wait for it.
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            cached = self._items.get(tenant_id)
            if cached is not None and cached[0] == version:
                return cached[1]
            index = Bm25Index(await self._passages(conn, tenant_id))
            self.builds += 1
            log.info("ai.index.built", passages=len(index), version=version)
            # The version was read before the rows (same transaction): a change committed in
            # between makes the stamp older than the rows, so the next question rebuilds.
            self._items[tenant_id] = (version, index)
            self._items.move_to_end(tenant_id)
            while len(self._items) > self._capacity:
                evicted, _ = self._items.popitem(last=False)
                self._locks.pop(evicted, None)
            return index

    async def _passages(self, conn: Any, tenant_id: UUID) -> list[Passage]:
        cipher = self._cipher
        passages = [
            entry_passage(row["id"], open_entry(cipher, tenant_id, row["content_enc"]))
            for row in await repo.all_entries(conn)
        ]
        for row in await repo.all_documents(conn):
            title = cipher.decrypt_text(row["title_enc"], tenant_id=tenant_id, field=TITLE_FIELD)
            text = cipher.decrypt_text(row["text_enc"], tenant_id=tenant_id, field=TEXT_FIELD)
            passages.extend(document_passages(row["id"], title, row["language"], text))
        return passages
