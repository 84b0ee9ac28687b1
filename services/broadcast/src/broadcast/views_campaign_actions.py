"""Campaign actions (start, pause, resume, cancel), the audience preview and the CSV report.

Actions lock the campaign row and follow the state machine in `campaigns.TRANSITIONS`; a
wrong transition is a 409 problem naming the current state.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from broadcast import campaign_lifecycle as lifecycle
from broadcast import campaigns_repository as repo
from broadcast.campaigns import RECIPIENT_PHONE_FIELD, TRANSITIONS
from broadcast.response_models import AudiencePreviewOut, CampaignProgressOut
from broadcast.views_campaigns import CAMPAIGNS, campaign_id, not_found, public, wrong_state
from broadcast.views_templates import ALL_ROLES, MANAGER_ROLES, audit, caller
from majlis.crypto import DecryptionError
from majlis.events.broadcast import CampaignUpdated
from majlis.http import ProblemError, responds, responds_file
from majlis.http.auth import caller_transaction
from majlis.http.csv_files import csv_download, neutralise

REPORT_COLUMNS = (
    "seq", "phone", "contact_id", "state", "reason_code", "reason_title", "error_code",
    "queued_at", "sent_at", "delivered_at", "read_at", "replied_at", "failed_at",
)  # fmt: skip


def _action(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(request: web.Request) -> web.Response:
        identity = await caller(request, MANAGER_ROLES)
        deps, wanted, tenant_id = request.app[CAMPAIGNS], campaign_id(request), identity.tenant_id
        async with caller_transaction(deps.pool, identity) as conn:
            row = await repo.get(conn, wanted, lock="FOR UPDATE")
            if row is None:
                raise not_found()
            if row["state"] not in TRANSITIONS[name]:
                raise wrong_state(row["state"], name)
            if name == "start":
                updated = await _start(conn, deps, tenant_id, row)
            elif name == "pause":
                updated = await lifecycle.pause(conn, tenant_id, wanted)
            elif name == "resume":
                updated = await lifecycle.resume(conn, tenant_id, wanted)
            else:
                updated = await lifecycle.cancel(conn, tenant_id, wanted)
            counts = await repo.counts(conn, wanted)
            zone_name = await repo.tenant_timezone(conn)
            await audit(
                conn, request, f"campaigns.{name}", wanted,
                {"from_state": row["state"], "to_state": updated["state"]},
                target_type="campaign",
            )  # fmt: skip
        return web.json_response(public(updated, zone_name, counts))

    view.__name__ = f"{name}_campaign"
    responds(CampaignProgressOut)(view)
    view.__doc__ = f"POST /api/v1/campaigns/{{id}}/{name} (owner, admin)."
    return view


async def _start(conn: repo.Conn, deps: Any, tenant_id: Any, row: Any) -> Any:
    """At the schedule (→ scheduled) or now (snapshot → running)."""
    template = await repo.template(conn, row["template_id"])
    if template is None or template["status"] != "APPROVED":
        raise ProblemError(409, "The template is not approved", slug="template-not-approved")
    if row["scheduled_at"] is not None and row["scheduled_at"] > datetime.now(UTC):
        updated = await repo.set_state(conn, row["id"], "scheduled")
        await lifecycle.emit(
            conn, tenant_id, CampaignUpdated(campaign_id=row["id"], state="scheduled")
        )
        return updated
    return await lifecycle.start(conn, deps, tenant_id, row)


@responds(AudiencePreviewOut)
async def audience_preview(request: web.Request) -> web.Response:
    """POST /api/v1/campaigns/{id}/audience-preview (every role): reach and skips by reason."""
    identity = await caller(request, ALL_ROLES)
    deps, wanted = request.app[CAMPAIGNS], campaign_id(request)
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        row = await repo.get(conn, wanted)
        if row is None:
            raise not_found()
        result = await lifecycle.preview(conn, deps, identity.tenant_id, row)
    return web.json_response(result)


@responds_file("text/csv")
async def report_csv(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/campaigns/{id}/report.csv (owner, admin): every recipient, streamed."""
    identity = await caller(request, MANAGER_ROLES)
    deps, wanted, tenant_id = request.app[CAMPAIGNS], campaign_id(request), identity.tenant_id
    async with caller_transaction(deps.pool, identity) as conn:
        if await repo.get(conn, wanted) is None:
            raise not_found()
        await audit(conn, request, "campaigns.report_exported", wanted, {}, target_type="campaign")
    response = await csv_download(request, f"campaign-{wanted}.csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    async with caller_transaction(deps.pool, identity, readonly=True) as conn:
        async for record in await repo.report_rows(conn, wanted):
            writer.writerow([neutralise(_cell(deps, tenant_id, record, c)) for c in REPORT_COLUMNS])
            if buffer.tell() > 64 * 1024:
                await response.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


def _cell(deps: Any, tenant_id: Any, record: Any, column: str) -> str:
    if column == "phone":
        if record["phone_enc"] is None:
            return ""
        try:
            return str(
                deps.cipher.decrypt_text(
                    record["phone_enc"], tenant_id=tenant_id, field=RECIPIENT_PHONE_FIELD
                )
            )
        except DecryptionError:
            return ""
    value = record[column]
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def add_routes(app: web.Application) -> None:
    """Register the action, preview and report routes."""
    for name in TRANSITIONS:
        app.router.add_post(f"/api/v1/campaigns/{{campaign_id}}/{name}", _action(name))
    app.router.add_post("/api/v1/campaigns/{campaign_id}/audience-preview", audience_preview)
    app.router.add_get("/api/v1/campaigns/{campaign_id}/report.csv", report_csv)
