"""A campaign's state changes: the snapshot at start, pause, resume, cancel and completion.

Each runs in the caller's transaction with the campaign row locked, so a view, the runner in
any replica and the dispatcher's claim see one state at a time. Pausing parks the sends the
dispatcher already holds; cancelling fails them unsent; the claim refuses both (0011).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from broadcast import campaigns_repository as repo
from broadcast.campaign_audience import SKIP_TITLES, AudienceResolver
from broadcast.campaigns import (
    AUDIENCE_FIELD,
    PARAMETERS_FIELD,
    RECIPIENT_PARAMETERS_FIELD,
    RECIPIENT_PHONE_FIELD,
    Audience,
    ParameterMapping,
)
from majlis.crypto import BlindIndexer, FieldCipher
from majlis.events import Event, make_envelope
from majlis.events.broadcast import CampaignFinished, CampaignUpdated
from majlis.messaging import add_to_outbox

Conn = repo.Conn


@dataclass(frozen=True, slots=True)
class CampaignDeps:
    """What campaigns need: the pool, field encryption, blind indexes, the phone region."""

    pool: asyncpg.Pool[Any]
    cipher: FieldCipher
    indexer: BlindIndexer
    region: str


async def emit(conn: Conn, tenant_id: UUID, event: Event) -> None:
    """Queue an event in the caller's transaction (published only if it commits)."""
    await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))


def seal_definition(
    deps: CampaignDeps,
    tenant_id: UUID,
    mapping: ParameterMapping,
    audience: Audience,
    csv_rows: list[dict[str, Any]],
) -> tuple[bytes, bytes]:
    """(parameters_enc, audience_enc) of a campaign's definition."""
    parameters = deps.cipher.encrypt(
        mapping.model_dump_json(), tenant_id=tenant_id, field=PARAMETERS_FIELD
    )
    audience_json = orjson.dumps({"definition": audience.model_dump(mode="json"), "csv": csv_rows})
    return parameters, deps.cipher.encrypt(audience_json, tenant_id=tenant_id, field=AUDIENCE_FIELD)


def open_definition(
    deps: CampaignDeps, tenant_id: UUID, row: Any
) -> tuple[ParameterMapping, Audience, list[dict[str, Any]]]:
    """The mapping, audience definition and CSV rows of a stored campaign."""
    cipher = deps.cipher
    mapping = ParameterMapping.model_validate_json(
        cipher.decrypt(row["parameters_enc"], tenant_id=tenant_id, field=PARAMETERS_FIELD)
    )
    stored = orjson.loads(
        cipher.decrypt(row["audience_enc"], tenant_id=tenant_id, field=AUDIENCE_FIELD)
    )
    return mapping, Audience.model_validate(stored["definition"]), list(stored["csv"])


async def preview(conn: Conn, deps: CampaignDeps, tenant_id: UUID, row: Any) -> dict[str, Any]:
    """How many the audience reaches now and how many it skips, by reason."""
    mapping, audience, csv_rows = open_definition(deps, tenant_id, row)
    resolver = AudienceResolver(deps.cipher, deps.indexer, tenant_id, deps.region)
    result = resolver.resolve(
        await resolver.candidates(conn, audience, csv_rows), audience, mapping
    )
    return {
        "total": len(result.recipients),
        "reachable": result.reachable,
        "skipped": sum(result.skipped.values()),
        "skipped_by_reason": dict(result.skipped),
    }


async def start(conn: Conn, deps: CampaignDeps, tenant_id: UUID, row: Any) -> Any:
    """Snapshot the audience into recipients and run (the campaign row is locked)."""
    mapping, audience, csv_rows = open_definition(deps, tenant_id, row)
    resolver = AudienceResolver(deps.cipher, deps.indexer, tenant_id, deps.region)
    result = resolver.resolve(
        await resolver.candidates(conn, audience, csv_rows), audience, mapping
    )
    cipher, indexer = deps.cipher, deps.indexer
    rows = []
    for r in result.recipients:
        phone_enc = bidx = parameters = None
        if r.phone is not None:
            phone_enc = cipher.encrypt(r.phone, tenant_id=tenant_id, field=RECIPIENT_PHONE_FIELD)
        if r.phone is not None and r.reason is None:  # unique per campaign: reachable only
            bidx = indexer.value(r.phone, tenant_id=tenant_id, field=RECIPIENT_PHONE_FIELD)
        if r.components is not None:
            parameters = cipher.encrypt(
                json.dumps(r.components), tenant_id=tenant_id, field=RECIPIENT_PARAMETERS_FIELD
            )
        state = "pending" if r.reason is None else "skipped"
        title = SKIP_TITLES.get(r.reason) if r.reason else None
        rows.append(
            (r.id, r.seq, phone_enc, bidx, r.contact_id, parameters, state, r.reason, title)
        )
    await repo.insert_recipients(conn, row["id"], rows)
    updated = await repo.set_state(
        conn, row["id"], "running", started=True, skip_reasons=dict(result.skipped)
    )
    await emit(conn, tenant_id, CampaignUpdated(campaign_id=row["id"], state="running"))
    return updated


async def pause(conn: Conn, tenant_id: UUID, campaign_id: UUID) -> Any:
    """running → paused; sends the dispatcher holds wait."""
    await repo.park_sends(conn, campaign_id)
    updated = await repo.set_state(conn, campaign_id, "paused")
    await emit(conn, tenant_id, CampaignUpdated(campaign_id=campaign_id, state="paused"))
    return updated


async def resume(conn: Conn, tenant_id: UUID, campaign_id: UUID) -> Any:
    """paused → running; parked sends are due again."""
    await repo.unpark_sends(conn, campaign_id)
    updated = await repo.set_state(conn, campaign_id, "running")
    await emit(conn, tenant_id, CampaignUpdated(campaign_id=campaign_id, state="running"))
    return updated


async def cancel(conn: Conn, tenant_id: UUID, campaign_id: UUID) -> Any:
    """→ cancelled; what is not sent yet never will be (skipped, counted)."""
    cancelled = await repo.cancel_unsent(conn, campaign_id)
    reasons = {"campaign-cancelled": cancelled} if cancelled else {}
    updated = await repo.set_state(
        conn, campaign_id, "cancelled", finished=True, skip_reasons=reasons
    )
    await finished(conn, tenant_id, campaign_id, "cancelled")
    return updated


async def complete(conn: Conn, tenant_id: UUID, campaign_id: UUID) -> None:
    """running → completed: every recipient has an outcome."""
    await repo.set_state(conn, campaign_id, "completed", finished=True)
    await finished(conn, tenant_id, campaign_id, "completed")


async def finished(conn: Conn, tenant_id: UUID, campaign_id: UUID, state: str) -> None:
    """Publish the campaign's end with its final counts."""
    counts = {state: n for state, n in (await repo.counts(conn, campaign_id)).items() if n}
    event = CampaignFinished(
        campaign_id=campaign_id,
        state="completed" if state == "completed" else "cancelled",
        counts=counts,
    )
    await emit(conn, tenant_id, event)
