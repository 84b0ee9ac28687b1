"""`/api/v1/leads`: list (stage/source filters, keyset), get, update (stage, fields), CSV export.

Every role reads; owners, admins and agents update (an API key would need `leads:write`, which
no key can hold yet: keys read leads only); owners and admins export. A stage moves
new → qualified → won/lost only (409 otherwise). Updates and exports are audited with field
names and counts, never values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chatflow.ai.service import AI_SERVICE
from chatflow.ai.web import (
    AGENT_ROLES,
    ALL_ROLES,
    MANAGER_ROLES,
    audit,
    bad_query,
    caller,
    make_cursor,
    page_limit,
    parse_cursor,
    path_id,
)
from chatflow.leads import repository as repo
from chatflow.leads.capture import lead_from_row
from chatflow.leads.model import TRANSITIONS, LeadData, Stage
from chatflow.response_models import LeadOut
from majlis.crypto import InvalidPhoneNumber, normalise_phone
from majlis.http import Page, ProblemError, parse_json, responds, responds_file
from majlis.http.auth import caller_transaction
from majlis.http.csv_files import BOM, csv_bytes, csv_download

STAGES = frozenset(TRANSITIONS)
SOURCES = frozenset({"flow", "ai", "manual", "api"})
EXPORT_BATCH = 500


class Budget(BaseModel):
    """An amount and its ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, le=Decimal("1e12"))
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class LeadUpdate(BaseModel):
    """PATCH body: the fields given change (null clears one); stage moves forward only."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage | None = None
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    interest: str | None = Field(default=None, max_length=500)
    budget: Budget | None = None
    timeline: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _something(self) -> LeadUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if "stage" in self.model_fields_set and self.stage is None:
            raise ValueError("stage cannot be null")
        return self


@responds(Page[LeadOut])
async def list_leads(request: web.Request) -> web.Response:
    """GET /api/v1/leads?stage=&source=&limit=&after= (every role), newest first."""
    identity = await caller(request, ALL_ROLES)
    stage, source = request.query.get("stage"), request.query.get("source")
    if stage is not None and stage not in STAGES:
        raise bad_query("stage", "One of new, qualified, won, lost")
    if source is not None and source not in SOURCES:
        raise bad_query("source", "One of flow, ai, manual, api")
    limit, after = page_limit(request), parse_cursor(request)
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        rows = await repo.page(conn, stage=stage, source=source, after=after, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return web.json_response({
        "items": [lead_from_row(ai, identity.tenant_id, r).public() for r in rows],
        "next_cursor": make_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None,
    })  # fmt: skip


@responds(LeadOut)
async def get_lead(request: web.Request) -> web.Response:
    """GET /api/v1/leads/{id} (every role)."""
    identity = await caller(request, ALL_ROLES)
    lead_id = path_id(request, "lead_id", "Lead")
    ai = request.app[AI_SERVICE]
    async with caller_transaction(ai.pool, identity, readonly=True) as conn:
        row = await repo.get(conn, lead_id)
    if row is None:
        raise ProblemError(404, "Lead not found")
    return web.json_response(lead_from_row(ai, identity.tenant_id, row).public())


def _changed_data(data: LeadData, body: LeadUpdate) -> tuple[LeadData, list[str]]:
    updates: dict[str, Any] = {}
    for name in ("name", "email", "phone", "company", "interest", "timeline"):
        if name in body.model_fields_set:
            value = getattr(body, name)
            updates[name] = value.strip() or None if isinstance(value, str) else value
    if updates.get("phone"):
        try:
            updates["phone"] = normalise_phone(updates["phone"], "AE")
        except InvalidPhoneNumber:
            raise ProblemError(422, "The request body is not valid", errors=[
                {"field": "phone", "message": "Not a phone number", "code": "invalid"}
            ]) from None  # fmt: skip
    if "budget" in body.model_fields_set:
        updates["budget_amount"] = body.budget.amount if body.budget else None
        updates["budget_currency"] = body.budget.currency if body.budget else None
    changed = sorted(k for k, v in updates.items() if getattr(data, k) != v)
    return data.model_copy(update=updates), changed


@responds(LeadOut)
async def update_lead(request: web.Request) -> web.Response:
    """PATCH /api/v1/leads/{id} (owner, admin, agent): stage and fields."""
    identity = await caller(request, AGENT_ROLES, write_scope="leads:write")
    lead_id = path_id(request, "lead_id", "Lead")
    body = await parse_json(request, LeadUpdate)
    ai, tenant_id = request.app[AI_SERVICE], identity.tenant_id
    async with caller_transaction(ai.pool, identity) as conn:
        row = await repo.get(conn, lead_id, for_update=True)
        if row is None:
            raise ProblemError(404, "Lead not found")
        lead = lead_from_row(ai, tenant_id, row)
        stage = body.stage or lead.stage
        if stage != lead.stage and stage not in TRANSITIONS[lead.stage]:
            raise ProblemError(409, f"A lead cannot move from {lead.stage} to {stage}",
                               slug="invalid-stage-transition", stage=lead.stage,
                               allowed=sorted(TRANSITIONS[lead.stage]))  # fmt: skip
        data, changes = _changed_data(lead.data, body)
        if stage != lead.stage:
            changes.insert(0, "stage")
        row = await repo.update(conn, lead_id, stage, lead.conversation_id,
                                data.seal(ai.cipher, tenant_id))  # fmt: skip
        details = {"stage": stage, "previous_stage": lead.stage} if "stage" in changes else {}
        await audit(conn, request, "leads.updated", "lead", lead_id, details=details,
                    changes=changes)  # fmt: skip
    return web.json_response(lead_from_row(ai, tenant_id, row).public())


_HEADER = ["id", "contact_id", "stage", "source", "name", "email", "phone", "company",
           "interest", "budget_amount", "budget_currency", "timeline", "created_at",
           "updated_at"]  # fmt: skip


@responds_file("text/csv")
async def export_leads(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/leads/export.csv?stage=&source= (owner, admin): streamed, formula-safe."""
    identity = await caller(request, MANAGER_ROLES)
    stage, source = request.query.get("stage"), request.query.get("source")
    if stage is not None and stage not in STAGES:
        raise bad_query("stage", "One of new, qualified, won, lost")
    if source is not None and source not in SOURCES:
        raise bad_query("source", "One of flow, ai, manual, api")
    ai = request.app[AI_SERVICE]
    response = await csv_download(request, "leads.csv")
    exported, complete, after = 0, False, None
    try:
        await response.write(BOM + csv_bytes([_HEADER]))
        while True:
            # A short transaction per page: a slow client never holds a connection.
            async with caller_transaction(ai.pool, identity, readonly=True) as conn:
                rows = await repo.page(conn, stage=stage, source=source, after=after,
                                       limit=EXPORT_BATCH)  # fmt: skip
            cells = []
            for row in rows:
                lead = lead_from_row(ai, identity.tenant_id, row)
                d = lead.data
                values = [str(lead.id), str(lead.contact_id), lead.stage, lead.source, d.name,
                          d.email, d.phone, d.company, d.interest, d.budget_amount,
                          d.budget_currency, d.timeline, lead.created_at.isoformat(),
                          lead.updated_at.isoformat()]  # fmt: skip
                cells.append(["" if v is None else str(v) for v in values])
            await response.write(csv_bytes(cells))
            exported += len(rows)
            if len(rows) < EXPORT_BATCH:
                break
            after = (rows[-1]["created_at"], rows[-1]["id"])
        complete = True
    finally:
        async with caller_transaction(ai.pool, identity) as conn:
            await audit(conn, request, "leads.exported", "lead", None,
                        details={"rows": exported, "complete": complete})  # fmt: skip
    await response.write_eof()
    return response


def add_lead_routes(app: web.Application) -> None:
    """Register the lead routes (the export before `{lead_id}`)."""
    app.router.add_get("/api/v1/leads/export.csv", export_leads)
    app.router.add_get("/api/v1/leads", list_leads)
    app.router.add_get("/api/v1/leads/{lead_id}", get_lead)
    app.router.add_patch("/api/v1/leads/{lead_id}", update_lead)
