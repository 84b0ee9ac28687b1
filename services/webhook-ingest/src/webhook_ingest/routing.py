"""Which tenant an item belongs to: a bounded in-process TTL cache over the pre-tenant lookups.

Meta's ids are the only routing input (never anything else in the payload). A hit costs no
database round trip; misses are cached briefly too, so a flood for an unknown number does not
become a flood of queries, while a newly connected number starts routing within seconds.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from uuid import UUID

from webhook_ingest.parsing import WebhookItem

Lookup = Callable[[str], Awaitable[UUID | None]]
Clock = Callable[[], float]

_META_ID = re.compile(r"^[0-9]{1,32}$")
POSITIVE_TTL_S = 60.0
NEGATIVE_TTL_S = 10.0
MAX_ENTRIES = 10_000


class TenantCache:
    """LRU-bounded map of (scope, id) -> tenant or None, each entry with its own expiry."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_ENTRIES,
        positive_ttl: float = POSITIVE_TTL_S,
        negative_ttl: float = NEGATIVE_TTL_S,
        clock: Clock = time.monotonic,
    ) -> None:
        """An empty cache; `clock` is injectable for tests."""
        self._entries: OrderedDict[tuple[str, str], tuple[float, UUID | None]] = OrderedDict()
        self._max = max_entries
        self._positive_ttl = positive_ttl
        self._negative_ttl = negative_ttl
        self._clock = clock

    def get(self, key: tuple[str, str]) -> tuple[bool, UUID | None]:
        """(True, tenant-or-None) on a live hit, (False, None) on a miss or expiry."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires_at, tenant = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, tenant

    def put(self, key: tuple[str, str], tenant: UUID | None) -> None:
        """Remember a lookup result; evicts the least recently used entry when full."""
        ttl = self._positive_ttl if tenant is not None else self._negative_ttl
        self._entries[key] = (self._clock() + ttl, tenant)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class TenantRouter:
    """Resolves items to tenants by phone_number_id (messages, statuses) or WABA id."""

    def __init__(
        self, by_phone_number_id: Lookup, by_waba_id: Lookup, cache: TenantCache | None = None
    ) -> None:
        """`by_*` are the SECURITY DEFINER lookups (majlis.db), bound to a pool."""
        self._lookups = {"phone_number_id": by_phone_number_id, "waba_id": by_waba_id}
        self._cache = cache if cache is not None else TenantCache()

    async def tenant_for(self, item: WebhookItem) -> UUID | None:
        """The owning tenant, or None (unknown or ambiguous); database errors propagate."""
        if item.routes_by_number:
            return await self.resolve("phone_number_id", item.phone_number_id or "")
        return await self.resolve("waba_id", item.waba_id)

    async def resolve(self, scope: str, meta_id: str) -> UUID | None:
        """Cached lookup of one Meta id in `scope` ("phone_number_id" or "waba_id")."""
        if not _META_ID.fullmatch(meta_id):
            return None  # not an id Meta issues: no query needed to know nobody owns it
        key = (scope, meta_id)
        hit, tenant = self._cache.get(key)
        if hit:
            return tenant
        tenant = await self._lookups[scope](meta_id)
        self._cache.put(key, tenant)
        return tenant
