"""The hash chain: entries, their canonical encoding, their hashes and the chain walk.

Pure functions only (no I/O), shared by the appender, the verifier and the unit tests. An
entry's hash is SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of every
stored field, ``prev_hash`` included, so changing, removing or reordering any row breaks the
chain at that row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from majlis.events import Envelope
from majlis.events.gateway import AuditRecorded


class Row(Protocol):
    """A stored row by column name: a dict or an asyncpg Record."""

    def __getitem__(self, key: str, /) -> Any:
        """The value of a column."""
        ...


GENESIS_HASH = bytes(32)
HASH_FIELDS = (
    "tenant_id", "seq", "event_id", "occurred_at", "recorded_at", "action", "outcome",
    "actor_type", "actor_id", "actor_role", "target_type", "target_id", "ip", "user_agent",
    "request_id", "correlation_id", "changes", "details", "prev_hash",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit event as the log stores it, before it gets its place in the chain."""

    tenant_id: UUID
    event_id: UUID
    occurred_at: datetime
    action: str
    outcome: str
    actor_type: str
    actor_id: UUID | None = None
    actor_role: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    correlation_id: UUID | None = None
    changes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _no_nul(value: Any) -> Any:
    # PostgreSQL text and jsonb cannot hold NUL; left in, one such event would be refused
    # forever (retried, then dead-lettered) and its action never recorded.
    if isinstance(value, str):
        return value.replace("\0", "")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    return value


def entry_from_event(event: AuditRecorded, envelope: Envelope) -> Entry:
    """The log entry of one `gateway.audit.recorded` event (NUL characters removed)."""
    return _no_nul_entry(
        Entry(
            tenant_id=envelope.tenant_id,
            event_id=envelope.id,
            occurred_at=envelope.occurred_at,
            action=event.action,
            outcome=event.outcome,
            actor_type=event.actor_type,
            actor_id=event.actor_id,
            actor_role=event.actor_role,
            target_type=event.target_type,
            target_id=event.target_id,
            ip=event.ip,
            user_agent=event.user_agent,
            request_id=event.request_id,
            correlation_id=envelope.correlation_id,
            changes=list(event.changes),
            # Through JSON once, so the hashed value is exactly what jsonb gives back later.
            details=json.loads(json.dumps(event.details)),
        )
    )


def _no_nul_entry(entry: Entry) -> Entry:
    values = {name: _no_nul(getattr(entry, name)) for name in Entry.__slots__}
    return Entry(**values)


def _timestamp(value: datetime) -> str:
    # Microseconds always: PostgreSQL keeps exactly that precision, so the text never changes.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def canonical(values: Row) -> bytes:
    """Canonical JSON of a stored row's hashed fields: sorted keys, no whitespace, UTF-8."""
    doc = {name: _plain(values[name]) for name in HASH_FIELDS}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(values: Row) -> bytes:
    """SHA-256 of a row's canonical encoding (which includes the previous hash)."""
    return hashlib.sha256(canonical(values)).digest()


def chain_row(entry: Entry, *, seq: int, prev_hash: bytes, recorded_at: datetime) -> dict[str, Any]:
    """The stored row of `entry` at position `seq`, hash included."""
    row: dict[str, Any] = {name: getattr(entry, name) for name in Entry.__slots__}
    row.update(seq=seq, prev_hash=prev_hash, recorded_at=recorded_at)
    row["hash"] = entry_hash(row)
    return row


def head_message(tenant_id: UUID, seq: int, head_hash: bytes, signed_at: datetime) -> bytes:
    """What a signed head's HMAC covers."""
    doc = {
        "tenant_id": str(tenant_id),
        "seq": seq,
        "hash": head_hash.hex(),
        "signed_at": _timestamp(signed_at),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def sign_head(
    key: bytes, tenant_id: UUID, seq: int, head_hash: bytes, signed_at: datetime
) -> bytes:
    """HMAC-SHA256 of a chain head under the audit signing key."""
    return hmac.new(key, head_message(tenant_id, seq, head_hash, signed_at), "sha256").digest()


def is_head_signature_valid(key: bytes, head: Row) -> bool:
    """Whether a stored signed head carries our signature."""
    expected = sign_head(key, head["tenant_id"], head["seq"], head["hash"], head["signed_at"])
    return hmac.compare_digest(expected, bytes(head["signature"]))


@dataclass(slots=True)
class ChainWalk:
    """Walks a chain in seq order and remembers the first place it breaks."""

    checked: int = 0
    first_broken_seq: int | None = None
    _expected_seq: int = 1
    _prev_hash: bytes = GENESIS_HASH

    def feed(self, row: Row) -> None:
        """Check one stored row (rows must come in ascending seq)."""
        self.checked += 1
        seq = int(row["seq"])
        if self.first_broken_seq is None:
            if seq != self._expected_seq:
                # A gap: the missing position is where the chain broke.
                self.first_broken_seq = min(seq, self._expected_seq)
            elif bytes(row["prev_hash"]) != self._prev_hash or entry_hash(row) != bytes(
                row["hash"]
            ):
                self.first_broken_seq = seq
        self._expected_seq = seq + 1
        self._prev_hash = bytes(row["hash"])

    def feed_all(self, rows: Iterable[Row]) -> ChainWalk:
        """Check every row; returns self."""
        for row in rows:
            self.feed(row)
        return self
