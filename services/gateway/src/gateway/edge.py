"""The gateway's edge middleware: client IP, IP blocks, authentication, roles, CSRF, limits.

Order matters: the IP block and the public per-IP limits run before any body is read or any
password hashed; authentication runs before roles and CSRF; the per-principal and per-tenant
limits run last, so an attacker without credentials cannot spend a victim's quota.
Whenever Redis cannot answer, the request fails closed with 503.
"""

from __future__ import annotations

from aiohttp import web

from gateway.apikeys import authenticate_api_key, grants, is_api_key
from gateway.client_ip import client_ip
from gateway.context import CONTEXT, GatewayContext
from gateway.csrf import STATE_CHANGING, check_csrf
from gateway.proxy import proxy_spec
from gateway.routes import CLIENT_IP, PUBLIC_LIMITS, RouteSpec, spec_for
from majlis.http.auth import IDENTITY, Identity, bearer_token, unauthorized
from majlis.http.middlewares import Handler
from majlis.http.problems import ProblemError
from majlis.logging import bind
from majlis.ratelimit import Decision, RedisUnavailable

_OPERATIONAL = frozenset({"/healthz", "/readyz", "/metrics"})


def _too_many(decision: Decision, title: str = "Too many requests") -> ProblemError:
    return ProblemError(429, title, slug="rate-limited", headers=decision.headers())


async def _limit(
    ctx: GatewayContext, name: str, key: str, limit: int, window: int, ip: str
) -> Decision:
    decision = await ctx.limiter.hit(name, key, limit=limit, window_seconds=window)
    if not decision.allowed:
        await ctx.ip_blocker.strike(ip)
        raise _too_many(decision)
    return decision


async def _authenticate(ctx: GatewayContext, request: web.Request, spec: RouteSpec) -> Identity:
    token = bearer_token(request)
    if token is None:
        raise unauthorized()
    if is_api_key(token):
        if spec.auth != "any" or spec.scope is None:
            raise ProblemError(403, "API keys cannot use this endpoint", slug="forbidden")
        identity = await authenticate_api_key(ctx, token)
        if not grants(identity.scopes, spec.scope):
            raise ProblemError(
                403,
                "The API key lacks the scope this endpoint needs",
                slug="insufficient-scope",
                required_scope=spec.scope,
            )
    else:
        identity = await ctx.authenticator.authenticate(request)
        if identity.role not in spec.roles:
            raise ProblemError(403, "Your role does not allow this", slug="forbidden")
    request[IDENTITY] = identity
    bind(tenant_id=str(identity.tenant_id))
    return identity


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the route's declared protections before its view runs."""
    if request.path in _OPERATIONAL:
        return await handler(request)
    ctx = request.app[CONTEXT]
    ip = client_ip(request.remote, request.headers.get("X-Forwarded-For"), ctx.trusted_proxies)
    request[CLIENT_IP] = ip
    bind(client_ip=ip)  # the canonical request line logs the address we trust, never XFF
    spec = spec_for(request) or proxy_spec(request)
    decisions: list[Decision] = []
    try:
        blocked = await ctx.ip_blocker.blocked_for(ip)
        if blocked:
            raise ProblemError(
                429,
                "This address is temporarily blocked",
                slug="ip-blocked",
                headers={"Retry-After": str(blocked)},
            )
        if spec is None:
            # Unknown paths still cost the caller: probing is limited like any public call.
            await _limit(ctx, "public", ip, *PUBLIC_LIMITS["public"], ip)
            return await handler(request)
        if spec.auth == "public":
            limit, window = PUBLIC_LIMITS[spec.rate if spec.rate != "principal" else "public"]
            decisions.append(await _limit(ctx, spec.rate, ip, limit, window, ip))
        else:
            identity = await _authenticate(ctx, request, spec)
            if identity.kind == "session" and request.method in STATE_CHANGING and spec.csrf:
                check_csrf(request, ctx.keys.csrf, identity.session_id)
            settings = ctx.settings
            # Each API key has a budget of its own (MAJLIS_API_KEY_RATE_LIMIT_PER_MINUTE);
            # people have theirs; both also count against the tenant's.
            is_key = identity.kind == "api_key"
            decisions.append(
                await _limit(
                    ctx,
                    "api_key" if is_key else "principal",
                    str(identity.principal_id),
                    settings.api_key_rate_limit_per_minute
                    if is_key
                    else settings.user_rate_limit_per_minute,
                    60,
                    ip,
                )
            )
            decisions.append(
                await _limit(
                    ctx,
                    "tenant",
                    str(identity.tenant_id),
                    settings.tenant_rate_limit_per_minute,
                    60,
                    ip,
                )
            )
        response = await handler(request)
    except RedisUnavailable:
        # Fail closed: without Redis we can check neither limits nor revocations.
        raise ProblemError(
            503,
            "Temporarily unavailable, try again shortly",
            slug="service-unavailable",
            headers={"Retry-After": "5"},
        ) from None
    if decisions:
        tightest = min(decisions, key=lambda d: d.remaining)
        for name, value in tightest.headers().items():
            response.headers.setdefault(name, value)
    return response
