"""`/api/v1/settings/business-hours`: the tenant's time zone, weekly hours and holidays.

Analytics measure response and resolution times in working time under these hours. Every
signed-in role (and an API key with `analytics:read`) reads them; owners and admins change
them (audited). Unset: 24/7 in the
tenant's time zone.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, field_validator

from gateway import audit
from gateway.context import CONTEXT, as_caller
from gateway.response_models import BusinessHoursOut
from gateway.routes import ALL_ROLES, MANAGERS, route
from majlis.business_hours import BusinessHours, zone_or_none
from majlis.http import ProblemError, parse_json
from majlis.http.auth import IDENTITY, Identity

PATH = "/api/v1/settings/business-hours"


class BusinessHoursBody(BusinessHours):
    """A time zone (IANA name) and business hours; unknown fields are rejected."""

    timezone: str = Field(min_length=1, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone = zone_or_none(value)
        if zone is None:
            raise ValueError("an IANA time zone such as Asia/Dubai")
        return zone.key


def _public(timezone: str, hours: BusinessHours, *, is_default: bool) -> dict[str, Any]:
    return {
        "timezone": timezone,
        "weekly": {day: [list(r) for r in ranges] for day, ranges in hours.weekly.items()},
        "holidays": [day.isoformat() for day in hours.holidays],
        "is_default": is_default,
    }


@route(
    "GET",
    PATH,
    "The business hours and time zone analytics measure working time in",
    auth="any",
    scope="analytics:read",
    roles=ALL_ROLES,
    response=BusinessHoursOut,
    tag="settings",
    responses={200: "Business hours (24/7 when never set)"},
)
async def get_business_hours(request: web.Request) -> web.Response:
    """The tenant's business hours, or 24/7 in its time zone when none were set."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        row = await conn.fetchrow(
            "SELECT t.timezone, b.weekly, b.holidays FROM tenants t"
            " LEFT JOIN business_hours b ON b.tenant_id = t.id WHERE t.id = $1",
            identity.tenant_id,
        )
    assert row is not None  # the caller's own tenant row is always visible
    if row["weekly"] is None:
        return web.json_response(_public(row["timezone"], BusinessHours.always(), is_default=True))
    hours = BusinessHours.stored(row["weekly"], row["holidays"])
    return web.json_response(_public(row["timezone"], hours, is_default=False))


@route(
    "PUT",
    PATH,
    "Set the business hours and time zone",
    roles=MANAGERS,
    body=BusinessHoursBody,
    response=BusinessHoursOut,
    tag="settings",
    responses={200: "Saved", 422: "Invalid zone, day or range"},
)
async def put_business_hours(request: web.Request) -> web.Response:
    """Replace the tenant's time zone, weekly hours and holidays (audited)."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    body = await parse_json(request, BusinessHoursBody)
    hours = BusinessHours(weekly=body.weekly, holidays=body.holidays)
    stored = _public(body.timezone, hours, is_default=False)
    async with as_caller(ctx, identity) as conn:
        # Reports and triggers convert in PostgreSQL: its zone database must know it too.
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", body.timezone
        ):
            raise ProblemError(422, "This time zone is not known", slug="unknown-timezone")
        await conn.execute(
            "UPDATE tenants SET timezone = $2, updated_at = now() WHERE id = $1",
            identity.tenant_id,
            body.timezone,
        )
        await conn.execute(
            "INSERT INTO business_hours (tenant_id, weekly, holidays, updated_by)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET"
            " weekly = excluded.weekly, holidays = excluded.holidays,"
            " updated_by = excluded.updated_by, updated_at = now()",
            identity.tenant_id,
            stored["weekly"],
            stored["holidays"],
            identity.principal_id,
        )
        await audit.by_caller(
            conn,
            request,
            "settings.business_hours_updated",
            target_type="tenant",
            target_id=identity.tenant_id,
            details={
                "timezone": body.timezone,
                "days_with_hours": sorted(d for d, r in hours.weekly.items() if r),
                "holidays": len(hours.holidays),
            },
        )
    return web.json_response(stored)
