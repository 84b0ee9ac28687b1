"""Signed chain heads: at intervals, HMAC each changed tenant chain head and store and log it.

A database administrator can rewrite every row and recompute every hash, but cannot forge a
head signed with the audit signing key, which lives only in the audit service's settings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from audit import repository
from audit.chain import sign_head
from majlis.db import tenant_transaction
from majlis.logging import get_logger
from majlis.settings import Settings

log = get_logger(__name__)


def signing_key(settings: Settings) -> bytes:
    """The audit signing key; raises ValueError unless it is base64 of 32 bytes."""
    try:
        key = base64.b64decode(settings.audit_signing_key.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("MAJLIS_AUDIT_SIGNING_KEY must be base64") from None
    if len(key) != 32:
        raise ValueError("MAJLIS_AUDIT_SIGNING_KEY must be 32 bytes (base64)")
    return key


async def sign_tenant_head(
    writer_pool: asyncpg.Pool[Any],
    key: bytes,
    tenant_id: UUID,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int | None:
    """Sign a tenant's current head if it moved since the last signed one; returns its seq."""
    async with tenant_transaction(writer_pool, tenant_id, "system") as conn:
        head = await repository.chain_head(conn, tenant_id)
        if head is None or head["seq"] == 0:
            return None
        seq, head_hash = int(head["seq"]), bytes(head["hash"])
        if await repository.last_signed_seq(conn, tenant_id) >= seq:
            return None
        signed_at = clock()
        signature = sign_head(key, tenant_id, seq, head_hash, signed_at)
        if not await repository.insert_signed_head(
            conn, tenant_id, seq, head_hash, signed_at, signature
        ):
            return None
    # The log is a second, off-database copy of every signed head.
    log.info("audit.head_signed", tenant_id=str(tenant_id), seq=seq, hash=head_hash.hex())
    return seq


class HeadSigner:
    """Signs the heads of tenants appended to since the last round, every interval."""

    def __init__(self, writer_pool: asyncpg.Pool[Any], key: bytes, interval: float) -> None:
        """Sign with `key` every `interval` seconds through the writer's pool."""
        self._pool = writer_pool
        self._key = key
        self._interval = interval
        self._dirty: set[UUID] = set()
        self._stopping = asyncio.Event()

    def touched(self, tenant_id: UUID) -> None:
        """Note that a tenant's chain moved."""
        self._dirty.add(tenant_id)

    async def sign_pending(self) -> None:
        """Sign every head that moved; a tenant that fails stays pending for the next round."""
        pending, self._dirty = self._dirty, set()
        for tenant_id in pending:
            try:
                await sign_tenant_head(self._pool, self._key, tenant_id)
            except (asyncpg.PostgresError, OSError) as exc:
                self._dirty.add(tenant_id)
                log.warning(
                    "audit.head_sign_failed", tenant_id=str(tenant_id), error=type(exc).__name__
                )

    async def run(self) -> None:
        """Sign every interval until stop(), then once more so nothing appended goes unsigned."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
            await self.sign_pending()

    def stop(self) -> None:
        """Ask run() to do a final round and return."""
        self._stopping.set()
