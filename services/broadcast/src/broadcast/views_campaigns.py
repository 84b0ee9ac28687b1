"""`/api/v1/campaigns`: create, list, get, update and delete drafts, upload a CSV audience.

Views authenticate each request and run every query in `caller_transaction` (RLS): another
tenant's campaign, template or number is not found, exactly like an unknown id. Owners and
admins manage campaigns; agents and viewers read them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from aiohttp import web

from broadcast import campaign_lifecycle as lifecycle
from broadcast import campaigns_repository as repo
from broadcast.campaign_audience import parse_csv
from broadcast.campaign_lifecycle import CampaignDeps
from broadcast.campaigns import (
    Audience,
    CreateCampaign,
    ParameterMapping,
    UpdateCampaign,
    funnel,
    invalid,
    render_check,
    schedule_utc,
    tenant_zone,
)
from broadcast.response_models import (
    AudienceUploadOut,
    CampaignDetailOut,
    CampaignOut,
    CampaignProgressOut,
)
from broadcast.templates import CONTENT_FIELD
from broadcast.views_templates import ALL_ROLES, MANAGER_ROLES, audit, caller
from majlis.crypto import BlindIndexer, FieldCipher, KeyRing
from majlis.events.broadcast import CampaignUpdated
from majlis.http import Page, ProblemError, parse_json, responds
from majlis.http.auth import caller_transaction
from majlis.http.keys import SETTINGS
from majlis.http.resources import DB_POOL
from majlis.plans import Limit, check_limit

CAMPAIGNS: web.AppKey[CampaignDeps] = web.AppKey("campaigns_deps", CampaignDeps)
STATES = frozenset({"draft", "scheduled", "running", "paused", "completed", "cancelled"})
PAGE_DEFAULT, PAGE_MAX = 25, 100
FAILURE_GROUPS = 20


async def campaigns_ctx(app: web.Application) -> AsyncIterator[None]:
    """The campaign views' dependencies."""
    settings = app[SETTINGS]
    app[CAMPAIGNS] = CampaignDeps(
        app[DB_POOL],
        FieldCipher(KeyRing.from_settings(settings)),
        BlindIndexer.from_settings(settings),
        settings.default_phone_region,
    )
    yield


def campaign_id(request: web.Request) -> UUID:
    """The campaign id of the path (a malformed one is simply not found)."""
    try:
        return UUID(request.match_info["campaign_id"])
    except ValueError:
        raise ProblemError(404, "Campaign not found") from None


def not_found() -> ProblemError:
    """The answer for an unknown campaign and for another tenant's."""
    return ProblemError(404, "Campaign not found")


def public(row: Any, zone_name: str | None, counts: dict[str, int] | None) -> dict[str, Any]:
    """A campaign as the API shows it (no audience members, no parameter values)."""
    zone = tenant_zone(zone_name)

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    scheduled = row["scheduled_at"]
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "number_id": str(row["number_id"]),
        "template_id": str(row["template_id"]),
        "language": row["language"],
        "state": row["state"],
        "timezone": zone.key,
        "scheduled_at": stamp(scheduled),
        "scheduled_at_local": stamp(scheduled.astimezone(zone)) if scheduled else None,
        "started_at": stamp(row["started_at"]),
        "finished_at": stamp(row["finished_at"]),
        "reachable_today": row["reachable_today"],
        "next_feed_at": stamp(row["next_feed_at"]),
        "skipped_by_reason": dict(row["skip_reasons"]),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
    if counts is not None:
        body["progress"] = funnel(counts)
    return body


async def _validated(
    conn: repo.Conn,
    deps: CampaignDeps,
    tenant_id: UUID,
    number_id: UUID,
    template_id: UUID,
    language: str | None,
    mapping: ParameterMapping,
) -> str:
    """Check the number, the template (approved, same WABA) and the mapping; the language."""
    number = await repo.number(conn, number_id)
    if number is None:
        raise invalid("number_id", "Unknown number", "unknown")
    template = await repo.template(conn, template_id)
    if template is None:
        raise invalid("template_id", "Unknown template", "unknown")
    if template["status"] != "APPROVED":
        raise invalid("template_id", "The template is not approved", "template-not-approved")
    if template["waba_id"] != number["waba_id"]:
        raise invalid("template_id", "The template belongs to another account", "other-waba")
    if language is not None and language != template["language"]:
        raise invalid("language", "The template is in another language", "language")
    content = deps.cipher.decrypt_text(
        template["content_enc"], tenant_id=tenant_id, field=CONTENT_FIELD
    )
    render_check(json.loads(content), mapping)
    return str(template["language"])


@responds(CampaignOut)
async def create_campaign(request: web.Request) -> web.Response:
    """POST /api/v1/campaigns (owner, admin): a draft."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, CreateCampaign)
    deps, tenant_id, new_id = request.app[CAMPAIGNS], identity.tenant_id, uuid4()
    async with caller_transaction(deps.pool, identity) as conn:
        language = await _validated(
            conn, deps, tenant_id, body.number_id, body.template_id, body.language, body.parameters
        )
        zone_name = await repo.tenant_timezone(conn)
        scheduled = (
            schedule_utc(body.scheduled_at, tenant_zone(zone_name), datetime.now(UTC))
            if body.scheduled_at is not None
            else None
        )
        parameters, audience = lifecycle.seal_definition(
            deps, tenant_id, body.parameters, body.audience, []
        )
        await check_limit(conn, tenant_id, Limit.CAMPAIGNS_PER_MONTH)
        row = await repo.insert(
            conn, new_id, body.name, body.number_id, body.template_id, language, parameters,
            audience, scheduled, identity.principal_id,
        )  # fmt: skip
        await lifecycle.emit(conn, tenant_id, CampaignUpdated(campaign_id=new_id, state="draft"))
        await audit(
            conn, request, "campaigns.created", new_id,
            {"audience_source": body.audience.source, "scheduled": scheduled is not None},
            target_type="campaign",
        )  # fmt: skip
    response = web.json_response(public(row, zone_name, None), status=201)
    response.headers["Location"] = f"/api/v1/campaigns/{new_id}"
    return response


def _bad_query(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid query parameters",
        slug="invalid-query",
        errors=[{"field": field, "message": message, "code": "invalid"}],
    )


def _cursor(row: Any) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_cursor(value: str) -> tuple[datetime, UUID]:
    try:
        stamp, _, ident = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
        return datetime.fromisoformat(stamp), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_query("after", "Not a valid cursor") from None


@responds(Page[CampaignProgressOut])
async def list_campaigns(request: web.Request) -> web.Response:
    """GET /api/v1/campaigns?state=&limit=&after= (every role), newest first, with progress."""
    identity = await caller(request, ALL_ROLES)
    query = request.query
    state = query.get("state")
    if state is not None and state not in STATES:
        raise _bad_query("state", "Not a campaign state")
    limit_text = query.get("limit", str(PAGE_DEFAULT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_MAX:
        raise _bad_query("limit", f"Must be 1 to {PAGE_MAX}")
    after = _parse_cursor(query["after"]) if "after" in query else None
    limit = int(limit_text)
    deps = request.app[CAMPAIGNS]
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        rows = await repo.page(conn, state=state, after=after, limit=limit + 1)
        zone_name = await repo.tenant_timezone(conn)
        counts = await repo.counts_of(conn, [r["id"] for r in rows[:limit]])
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response(
        {
            "items": [public(r, zone_name, counts[r["id"]]) for r in rows],
            "next_cursor": _cursor(rows[-1]) if more else None,
        }
    )


@responds(CampaignDetailOut)
async def get_campaign(request: web.Request) -> web.Response:
    """GET /api/v1/campaigns/{id} (every role): definition, progress and funnel.

    `failed_by_reason`: the failed recipients grouped by Meta's error code and title (the
    twenty most frequent), so the screen can say why without the per-recipient report.
    """
    identity = await caller(request, ALL_ROLES)
    deps, wanted = request.app[CAMPAIGNS], campaign_id(request)
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        row = await repo.get(conn, wanted)
        if row is None:
            raise not_found()
        counts = await repo.counts(conn, wanted)
        zone_name = await repo.tenant_timezone(conn)
        failures = (
            await repo.failure_reasons(conn, wanted, FAILURE_GROUPS) if counts.get("failed") else []
        )
    mapping, audience, csv_rows = lifecycle.open_definition(deps, identity.tenant_id, row)
    body = public(row, zone_name, counts)
    body["failed_by_reason"] = [
        {"code": f["error_code"], "title": f["reason_title"], "count": int(f["n"])}
        for f in failures
    ]
    body["parameters"] = mapping.model_dump(mode="json")
    body["audience"] = {**audience.model_dump(mode="json"), "csv_rows": len(csv_rows)}
    return web.json_response(body)


@responds(CampaignOut)
async def update_campaign(request: web.Request) -> web.Response:
    """PATCH /api/v1/campaigns/{id} (owner, admin): drafts only (409 otherwise)."""
    identity = await caller(request, MANAGER_ROLES)
    body = await parse_json(request, UpdateCampaign)
    deps, wanted, tenant_id = request.app[CAMPAIGNS], campaign_id(request), identity.tenant_id
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.get(conn, wanted, lock="FOR UPDATE")
        if row is None:
            raise not_found()
        if row["state"] != "draft":
            raise wrong_state(row["state"], "update")
        mapping, audience, csv_rows = lifecycle.open_definition(deps, tenant_id, row)
        mapping = body.parameters or mapping
        audience = body.audience or audience
        number_id = body.number_id or row["number_id"]
        template_id = body.template_id or row["template_id"]
        language = await _validated(
            conn, deps, tenant_id, number_id, template_id, body.language, mapping
        )
        zone_name = await repo.tenant_timezone(conn)
        scheduled = None if body.clear_schedule else row["scheduled_at"]
        if body.scheduled_at is not None:
            scheduled = schedule_utc(body.scheduled_at, tenant_zone(zone_name), datetime.now(UTC))
        parameters_enc, audience_enc = lifecycle.seal_definition(
            deps, tenant_id, mapping, audience, csv_rows if audience.source == "csv" else []
        )
        updated = await repo.update_draft(
            conn, wanted, body.name or row["name"], number_id, template_id, language,
            parameters_enc, audience_enc, scheduled,
        )  # fmt: skip
        assert updated is not None
        fields = sorted(k for k in body.model_fields_set)
        await audit(
            conn, request, "campaigns.updated", wanted, {"fields": fields}, target_type="campaign"
        )
    return web.json_response(public(updated, zone_name, None))


async def delete_campaign(request: web.Request) -> web.Response:
    """DELETE /api/v1/campaigns/{id} (owner, admin): drafts only (409 otherwise)."""
    identity = await caller(request, MANAGER_ROLES)
    deps, wanted = request.app[CAMPAIGNS], campaign_id(request)
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.get(conn, wanted, lock="FOR UPDATE")
        if row is None:
            raise not_found()
        if row["state"] != "draft" or not await repo.delete_draft(conn, wanted):
            raise wrong_state(row["state"], "delete")
        event = CampaignUpdated(campaign_id=wanted, state="deleted")
        await lifecycle.emit(conn, identity.tenant_id, event)
        await audit(conn, request, "campaigns.deleted", wanted, {}, target_type="campaign")
    return web.Response(status=204)


@responds(AudienceUploadOut)
async def upload_audience_csv(request: web.Request) -> web.Response:
    """PUT /api/v1/campaigns/{id}/audience.csv (owner, admin; text/csv): a draft's audience."""
    identity = await caller(request, MANAGER_ROLES)
    deps, wanted, tenant_id = request.app[CAMPAIGNS], campaign_id(request), identity.tenant_id
    if request.content_type != "text/csv":
        raise ProblemError(415, "The audience must be text/csv")
    rows = parse_csv(await request.read())
    async with caller_transaction(deps.pool, identity) as conn:
        row = await repo.get(conn, wanted, lock="FOR UPDATE")
        if row is None:
            raise not_found()
        if row["state"] != "draft":
            raise wrong_state(row["state"], "update")
        mapping, audience, _old = lifecycle.open_definition(deps, tenant_id, row)
        audience = Audience.model_validate({**audience.model_dump(), "source": "csv"})
        _params, sealed = lifecycle.seal_definition(deps, tenant_id, mapping, audience, rows)
        await repo.set_audience(conn, wanted, sealed)
        await audit(
            conn, request, "campaigns.audience_uploaded", wanted, {"rows": len(rows)},
            target_type="campaign",
        )  # fmt: skip
    return web.json_response({"rows": len(rows)})


def wrong_state(state: str, action: str) -> ProblemError:
    """409: the action is not allowed in the campaign's current state."""
    return ProblemError(
        409,
        f"A {state} campaign can't {action}"
        if action != "update"
        else f"A {state} campaign can't be changed",
        slug="campaign-state",
        state=state,
    )


def add_routes(app: web.Application) -> None:
    """Register the campaign routes."""
    app.router.add_post("/api/v1/campaigns", create_campaign)
    app.router.add_get("/api/v1/campaigns", list_campaigns)
    app.router.add_get("/api/v1/campaigns/{campaign_id}", get_campaign)
    app.router.add_patch("/api/v1/campaigns/{campaign_id}", update_campaign)
    app.router.add_delete("/api/v1/campaigns/{campaign_id}", delete_campaign)
    app.router.add_put("/api/v1/campaigns/{campaign_id}/audience.csv", upload_audience_csv)
