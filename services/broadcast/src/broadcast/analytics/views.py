"""`/api/v1/analytics/...`: read-only reports over the rollups, for every signed-in role.

Query: `from` and `to` (local dates, YYYY-MM-DD, inclusive, in the tenant's time zone; the
last 30 days when absent), optional `number_id`. A bad date, `to` before `from` or a range
longer than 366 days is a 422 problem. Every query runs in the caller's tenant transaction
(RLS): another tenant's data is never counted, another tenant's number simply matches nothing.
API keys need the `analytics:read` scope (checked by the gateway, which forwards here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from broadcast.analytics import reports
from broadcast.analytics.reports import Range
from broadcast.analytics.repository import Conn, tenant_zone_name
from broadcast.analytics.response_models import (
    AgentsReportOut,
    CampaignsReportOut,
    FlowsReportOut,
    LeadsReportOut,
    ResponseTimesReportOut,
    VolumesReportOut,
)
from broadcast.views_templates import ALL_ROLES, caller
from majlis.business_hours import zone_or_none
from majlis.http import ProblemError, responds
from majlis.http.auth import caller_transaction
from majlis.http.resources import DB_POOL

SCOPE = "analytics:read"
MAX_DAYS = 366
DEFAULT_DAYS = 30
Report = Callable[[Conn, Range], Awaitable[dict[str, Any]]]


def _bad(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "The report's range is not valid",
        slug="invalid-range",
        errors=[{"field": field, "message": message, "code": "invalid"}],
    )


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:  # fromisoformat also takes 20261201 and week dates
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad(name, "A date as YYYY-MM-DD") from None


def _number(request: web.Request) -> UUID | None:
    raw = request.query.get("number_id")
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise _bad("number_id", "A number id") from None


def parse_range(request: web.Request, zone_name: str, today: date | None = None) -> Range:
    """The report range of a request's query in the tenant's zone (422 when it is bad)."""
    unknown = set(request.query) - {"from", "to", "number_id"}
    if unknown:
        raise _bad(sorted(unknown)[0], "Unknown query parameter")
    zone = zone_or_none(zone_name) or zone_or_none("UTC")
    assert zone is not None
    first, last = _date(request, "from"), _date(request, "to")
    today = today or datetime.now(UTC).astimezone(zone).date()
    if last is None:
        last = today if first is None else min(first + timedelta(days=DEFAULT_DAYS - 1), today)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise _bad("to", "The range ends before it starts")
    if (last - first).days + 1 > MAX_DAYS:
        raise _bad("to", f"At most {MAX_DAYS} days")
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return Range(first, last, start, end, zone.key, _number(request))


def _view(
    report: Report, answer: type[BaseModel]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(request: web.Request) -> web.Response:
        identity = await caller(request, ALL_ROLES)
        if identity.kind == "api_key" and SCOPE not in identity.scopes:
            # The gateway refuses such a key already; checked again here (zero trust).
            raise ProblemError(
                403, "This API key lacks a scope", slug="insufficient-scope", required_scope=SCOPE
            )
        pool = request.app[DB_POOL]
        async with caller_transaction(pool, identity, readonly=True) as conn:
            body = await report(conn, parse_range(request, await tenant_zone_name(conn)))
        return web.json_response(body)

    view.__name__ = f"get_{report.__name__}"
    view.__doc__ = report.__doc__
    return responds(answer)(view)


# Each report with the model of its answer (the OpenAPI document's schema).
ROUTES: dict[str, tuple[Report, type[BaseModel]]] = {
    "/api/v1/analytics/volumes": (reports.volumes, VolumesReportOut),
    "/api/v1/analytics/response-times": (reports.response_times, ResponseTimesReportOut),
    "/api/v1/analytics/agents": (reports.agents, AgentsReportOut),
    "/api/v1/analytics/campaigns": (reports.campaigns, CampaignsReportOut),
    "/api/v1/analytics/flows": (reports.flows, FlowsReportOut),
    "/api/v1/analytics/leads": (reports.leads, LeadsReportOut),
}


def add_routes(app: web.Application) -> None:
    """Register the analytics reports (GET only)."""
    for path, (report, answer) in ROUTES.items():
        app.router.add_get(path, _view(report, answer))
