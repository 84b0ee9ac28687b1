"""The audit log API's answers, as documented in the OpenAPI document
(``majlis.http.responds``): they describe the dicts of ``views._item`` (a stored row, its
``repository.COLUMNS``) and ``verification.Verdict.as_dict``; keep them in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

_HEX_SHA256 = r"^[0-9a-f]{64}$"


class AuditEventOut(BaseModel):
    """One entry of the tenant's tamper-evident audit log."""

    seq: int = Field(ge=1, description="Its place in the tenant's chain, from 1, gapless")
    event_id: UUID
    occurred_at: datetime
    recorded_at: datetime = Field(description="When the audit service appended it")
    action: str = Field(description="A stable dotted name, e.g. auth.login.succeeded")
    outcome: Literal["success", "failure"]
    # The closed set majlis.events.gateway.AuditRecorded (the log's only input) takes.
    actor_type: Literal["user", "api_key", "anonymous", "system", "bot"]
    actor_id: UUID | None
    actor_role: str | None
    target_type: str | None
    target_id: str | None
    ip: str | None = Field(description="The client address the gateway saw")
    user_agent: str | None
    request_id: str | None
    correlation_id: UUID | None
    changes: list[str] = Field(description="Names of the fields that changed")
    details: dict[str, Any] = Field(description="What else the action recorded (no secrets)")
    prev_hash: str = Field(
        pattern=_HEX_SHA256, description="The previous entry's hash (zeros before the first)"
    )
    hash: str = Field(
        pattern=_HEX_SHA256,
        description="SHA-256, hex, of the entry's canonical JSON (prev_hash included)",
    )


class AuditVerdictOut(BaseModel):
    """The tenant's chain recomputed: every hash, and the signed heads."""

    ok: bool = Field(description="No entry broken and every signed head matches")
    checked: int = Field(description="Entries walked")
    first_broken_seq: int | None = Field(description="Where the chain first breaks, if it does")
    head_matches_signed: bool = Field(
        description="Every signed head is validly signed and matches its entry"
    )
