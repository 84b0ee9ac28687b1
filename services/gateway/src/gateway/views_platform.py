"""The tenant's plan (`GET /api/v1/plan`) and where the platform keeps data
(`GET /api/v1/platform/residency`), for owners to show their auditors.

Residency answers from configuration only: hosts and regions, never a URL with credentials,
never key material (the active field-encryption key id is an identifier, not a key).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from yarl import URL

from gateway.context import CONTEXT, as_caller
from gateway.response_models import PlanOut, ResidencyOut
from gateway.routes import MANAGERS, route
from majlis.crypto import KeyRing
from majlis.http.auth import IDENTITY, Identity
from majlis.net.egress import refusal_totals
from majlis.plans import tenant_plan, usage
from majlis.settings import Settings

OWNERS = frozenset({"owner"})


@route(
    "GET",
    "/api/v1/plan",
    "The business's plan, its features and limits, and current usage",
    roles=MANAGERS,
    response=PlanOut,
    tag="platform",
    responses={200: "Plan, limits and usage", 403: "Not an owner or admin"},
)
async def get_plan(request: web.Request) -> web.Response:
    """The plan and how much of each limit the tenant uses."""
    ctx = request.app[CONTEXT]
    identity: Identity = request[IDENTITY]
    async with as_caller(ctx, identity, readonly=True) as conn:
        plan = await tenant_plan(conn, identity.tenant_id)
        used = await usage(conn)
    return web.json_response({"plan": plan.describe(), "usage": used})


def _store(name: str, url: str, default_port: int, region: str) -> dict[str, Any]:
    # Only the host and port leave this function, never the user or password; a DSN yarl
    # cannot read (several hosts, a socket directory) is reported without a host.
    try:
        parsed = URL(url)
        host, port = parsed.host, parsed.port or default_port
    except ValueError:
        host, port = None, None
    return {"name": name, "host": host, "port": port, "region": region}


def _stores(settings: Settings) -> list[dict[str, Any]]:
    regions = settings.store_regions()
    return [
        _store("postgresql", settings.database_url.get_secret_value(), 5432, regions["postgresql"]),
        _store("redis", settings.redis_url.get_secret_value(), 6379, regions["redis"]),
        _store("rabbitmq", settings.amqp_url.get_secret_value(), 5672, regions["rabbitmq"]),
    ]


@route(
    "GET",
    "/api/v1/platform/residency",
    "Where the platform keeps data and which outside hosts it may call (owners)",
    roles=OWNERS,
    response=ResidencyOut,
    tag="platform",
    responses={200: "Regions, stores, egress allow-list, encryption facts", 403: "Not an owner"},
)
async def get_residency(request: web.Request) -> web.Response:
    """Data region, each store's host and region, the egress allow-list and refusals."""
    ctx = request.app[CONTEXT]
    settings = ctx.settings
    try:
        refused: dict[str, int] | None = await refusal_totals(ctx.redis, settings.redis_prefix)
    except RedisError:
        refused = None
    ring = KeyRing.from_settings(settings)
    return web.json_response(
        {
            "data_region": settings.data_region,
            "stores": _stores(settings),
            "egress": {
                "allowed_hosts": list(ctx.egress.hosts),
                "tenant_targets": "tenant-chosen URLs (chatflow http_request nodes, outbound "
                "webhooks) are not on the list: they pass the SSRF guard (public addresses "
                "only, checked after DNS resolution and on every redirect)",
                "refused_total": None if refused is None else sum(refused.values()),
                "refused_by_host": refused,
            },
            "encryption_at_rest": {
                "field_encryption": "AES-256-GCM",
                "active_key_id": ring.active_key_id,
                "blind_index": "HMAC-SHA256",
                "keys_from": "environment (never stored in the database)",
            },
        },
        headers={"Cache-Control": "no-store"},
    )
