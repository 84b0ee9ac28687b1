"""Plans: what Starter and Business include, and every plan check of the platform.

One place decides: the audit service asks ``require_feature(..., Feature.AUDIT_LOG)``; the
gateway calls ``check_limit(...)`` before it creates a number, an invite or an API key, the
broadcast service before it creates a webhook endpoint or a campaign, the chatflow service
before it creates a flow (each in the transaction that inserts the row). There is no billing:
an operator changes a tenant's plan with
``python -m majlis.cli set-plan <tenant_id> starter|business`` (audited, see ``set_plan``).

Every function here runs on a connection of ``tenant_transaction`` (RLS scopes the counts to
the caller's tenant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg

from majlis.db import tenant_transaction
from majlis.events import make_envelope
from majlis.events.gateway import AuditRecorded
from majlis.http.problems import ProblemError
from majlis.messaging import add_to_outbox

PlanName = str


class Feature(StrEnum):
    """Capabilities a plan may include."""

    AUDIT_LOG = "audit_log"
    API_ACCESS = "api_access"
    OUTBOUND_WEBHOOKS = "outbound_webhooks"
    AI_PROVIDERS = "ai_providers"


class Limit(StrEnum):
    """Countable things a plan caps."""

    NUMBERS = "numbers"  # WhatsApp numbers not disabled
    TEAM_MEMBERS = "team_members"  # active users plus pending invites
    API_KEYS = "api_keys"  # unrevoked keys
    WEBHOOK_ENDPOINTS = "webhook_endpoints"  # outbound webhook endpoints
    FLOWS = "flows"  # chatflows
    CAMPAIGNS_PER_MONTH = "campaigns_per_month"  # campaigns created this calendar month (UTC)


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan: its name, what it includes and how much of each countable thing."""

    name: PlanName
    title: str
    features: frozenset[Feature]
    limits: Mapping[Limit, int]

    def describe(self) -> dict[str, Any]:
        """The plan as the API shows it."""
        return {
            "name": self.name,
            "title": self.title,
            "features": sorted(f.value for f in self.features),
            "limits": {limit.value: self.limits[limit] for limit in Limit},
        }


# Starter's limits leave room for a small team (and for the test suite, which builds tenants
# on Starter with a few users, numbers and keys each); Business is for a contact centre.
STARTER = Plan(
    name="starter",
    title="Starter",
    features=frozenset({Feature.API_ACCESS, Feature.OUTBOUND_WEBHOOKS, Feature.AI_PROVIDERS}),
    limits={
        Limit.NUMBERS: 2,
        Limit.TEAM_MEMBERS: 10,
        Limit.API_KEYS: 5,
        Limit.WEBHOOK_ENDPOINTS: 3,
        Limit.FLOWS: 20,
        Limit.CAMPAIGNS_PER_MONTH: 30,
    },
)
BUSINESS = Plan(
    name="business",
    title="Business",
    features=frozenset(Feature),
    limits={
        Limit.NUMBERS: 20,
        Limit.TEAM_MEMBERS: 100,
        Limit.API_KEYS: 50,
        Limit.WEBHOOK_ENDPOINTS: 25,
        Limit.FLOWS: 500,
        Limit.CAMPAIGNS_PER_MONTH: 1000,
    },
)
PLANS: dict[PlanName, Plan] = {STARTER.name: STARTER, BUSINESS.name: BUSINESS}
_ORDER = (STARTER, BUSINESS)

# Usage of each limit, counted inside the tenant's transaction (RLS keeps it to the tenant).
# A table another service has not created yet (its migration not applied) counts as None.
_USAGE_SQL: dict[Limit, tuple[str, str]] = {
    Limit.NUMBERS: (
        "whatsapp_numbers",
        "SELECT count(*) FROM whatsapp_numbers WHERE status <> 'disabled'",
    ),
    Limit.TEAM_MEMBERS: (
        "users",
        "SELECT (SELECT count(*) FROM users WHERE is_active)"
        " + (SELECT count(*) FROM invites WHERE accepted_at IS NULL AND revoked_at IS NULL"
        " AND expires_at > now())",
    ),
    Limit.API_KEYS: ("api_keys", "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"),
    Limit.WEBHOOK_ENDPOINTS: ("webhook_endpoints", "SELECT count(*) FROM webhook_endpoints"),
    Limit.FLOWS: ("flows", "SELECT count(*) FROM flows"),
    Limit.CAMPAIGNS_PER_MONTH: (
        "campaigns",
        "SELECT count(*) FROM campaigns"
        " WHERE created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    ),
}


def plan_named(name: str) -> Plan:
    """The plan called `name` (an unknown name is a programming or data error)."""
    return PLANS[name]


async def tenant_plan(conn: asyncpg.Connection[Any], tenant_id: UUID) -> Plan:
    """The tenant's current plan (read in the caller's tenant transaction)."""
    name = await conn.fetchval("SELECT plan FROM tenants WHERE id = $1", tenant_id)
    return PLANS.get(str(name), STARTER)


def require_feature(plan: Plan, feature: Feature) -> None:
    """403 unless `plan` includes `feature`, naming the plan that does."""
    if feature in plan.features:
        return
    needed = next((p for p in _ORDER if feature in p.features), BUSINESS)
    raise ProblemError(
        403,
        f"This needs the {needed.title} plan",
        slug=f"{needed.name}-plan-required",
        feature=feature.value,
        plan=plan.name,
    )


def check_count(plan: Plan, limit: Limit, current: int, *, adding: int = 1) -> None:
    """403 `plan-limit-reached` if `adding` more would take `current` past the plan's limit."""
    allowed = plan.limits[limit]
    if current + adding > allowed:
        raise ProblemError(
            403,
            f"The {plan.title} plan allows {allowed} {limit.value.replace('_', ' ')}",
            slug="plan-limit-reached",
            limit=limit.value,
            allowed=allowed,
            used=current,
            plan=plan.name,
        )


async def usage_of(conn: asyncpg.Connection[Any], limit: Limit) -> int | None:
    """How much of `limit` the tenant uses now (None if the table does not exist yet)."""
    table, sql = _USAGE_SQL[limit]
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return None
    return int(await conn.fetchval(sql))


async def usage(conn: asyncpg.Connection[Any]) -> dict[str, int | None]:
    """Usage of every limit."""
    return {limit.value: await usage_of(conn, limit) for limit in Limit}


async def check_limit(
    conn: asyncpg.Connection[Any], tenant_id: UUID, limit: Limit, *, adding: int = 1
) -> None:
    """Refuse (403 `plan-limit-reached`) a creation that would pass the tenant's limit.

    Takes a transaction-scoped advisory lock per tenant and limit first, so two concurrent
    creations cannot both pass the check; call it in the transaction that inserts the row.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"plan:{tenant_id}:{limit}"
    )
    plan = await tenant_plan(conn, tenant_id)
    check_count(plan, limit, await usage_of(conn, limit) or 0, adding=adding)


async def set_plan(pool: asyncpg.Pool[Any], tenant_id: UUID, name: str) -> tuple[str, str]:
    """Move a tenant to plan `name` (audited as a system action); returns (old, new)."""
    if name not in PLANS:
        raise ValueError(f"unknown plan {name!r}; one of {', '.join(PLANS)}")
    async with tenant_transaction(pool, tenant_id, "system") as conn:
        old = await conn.fetchval("SELECT plan FROM tenants WHERE id = $1 FOR UPDATE", tenant_id)
        if old is None:
            raise LookupError(f"no tenant {tenant_id}")
        await conn.execute(
            "UPDATE tenants SET plan = $2, updated_at = now() WHERE id = $1", tenant_id, name
        )
        event = AuditRecorded(
            action="plan.changed",
            actor_type="system",
            target_type="tenant",
            target_id=str(tenant_id),
            details={"from": str(old), "to": name},
            changes=["plan"],
        )
        await add_to_outbox(conn, make_envelope(event, tenant_id=tenant_id))
    return str(old), name
