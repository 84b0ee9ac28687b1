"""Verify one tenant's chain: recompute every hash and compare with the signed heads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

import asyncpg

from audit import repository
from audit.chain import ChainWalk, is_head_signature_valid
from majlis.db import DbRole, tenant_transaction


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of POST /api/v1/audit/verify and of `python -m audit.verify`."""

    ok: bool
    checked: int
    first_broken_seq: int | None
    head_matches_signed: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


async def verify_tenant(
    pool: asyncpg.Pool[Any],
    key: bytes,
    tenant_id: UUID,
    role: DbRole = "system",
    user_id: UUID | None = None,
) -> Verdict:
    """Walk a tenant's chain in one read-only snapshot and check it against its signed heads."""
    async with tenant_transaction(pool, tenant_id, role, user_id=user_id, readonly=True) as conn:
        # Heads first: any head signed later covers rows that the walk below may not see.
        heads = await repository.signed_heads(conn, tenant_id)
        # A forged or altered signed head fails the check as surely as a mismatching one.
        heads_valid = all(is_head_signature_valid(key, h) for h in heads)
        signed = {int(h["seq"]): bytes(h["hash"]) for h in heads}
        matched: set[int] = set()
        walk = ChainWalk()
        async for row in repository.chain_rows(conn, tenant_id):
            walk.feed(row)
            seq = int(row["seq"])
            if seq in signed and signed[seq] == bytes(row["hash"]):
                matched.add(seq)
    head_matches_signed = heads_valid and matched == set(signed)
    return Verdict(
        ok=walk.first_broken_seq is None and head_matches_signed,
        checked=walk.checked,
        first_broken_seq=walk.first_broken_seq,
        head_matches_signed=head_matches_signed,
    )
