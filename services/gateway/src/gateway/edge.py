"""The gateway's edge middleware: client IP, IP blocks, authentication, roles, CSRF, limits.

Order matters: the IP block and the public per-IP limits run before any body is read or any
password hashed; authentication runs before roles and CSRF; the per-principal and per-tenant
limits run last, so an attacker without credentials cannot spend a victim's quota.
Whenever Redis cannot answer, the request fails closed with 503.
"""

from __future__ import annotations

import asyncio

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
from majlis.ratelimit import Decision, Limit, RedisUnavailable

_OPERATIONAL = frozenset({"/healthz", "/readyz", "/metrics"})


def _too_many(decision: Decision, title: str = "Too many requests") -> ProblemError:
    return ProblemError(429, title, slug="rate-limited", headers=decision.headers())


async def _limit(ctx: GatewayContext, limits: list[Limit], ip: str) -> list[Decision]:
    """Count the request against `limits` (in turn, see RateLimiter.hit_all); 429 and a
    strike against the address when one refuses."""
    decisions = await ctx.limiter.hit_all(limits)
    if not decisions[-1].allowed:
        await ctx.ip_blocker.strike(ip)
        raise _too_many(decisions[-1])
    return decisions


def _early_session(
    ctx: GatewayContext, request: web.Request, spec: RouteSpec | None
) -> asyncio.Task[Identity] | None:
    """A session token's check, started now so that its revocation lookup shares the Redis
    round trip of the IP block check (its answer is used only once the IP is known unblocked).
    API keys wait: their lookup is a database query, not spent on a blocked address."""
    if spec is None or spec.auth == "public":
        return None
    token = bearer_token(request)
    if token is None or is_api_key(token):
        return None
    return asyncio.ensure_future(
        ctx.authenticator.authenticate(request, setup_only_allowed=spec.setup_only)
    )


def _drop(task: asyncio.Task[Identity] | None) -> None:
    """Give up an early check (the address is blocked, or Redis failed) without a warning
    about an exception nobody retrieved."""
    if task is not None:
        task.cancel()
        task.add_done_callback(lambda done: done.cancelled() or done.exception())


async def _authenticate(
    ctx: GatewayContext,
    request: web.Request,
    spec: RouteSpec,
    early: asyncio.Task[Identity] | None = None,
) -> Identity:
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
        # `early` is this very check, already started (see _early_session).
        identity = await (
            early or ctx.authenticator.authenticate(request, setup_only_allowed=spec.setup_only)
        )
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
    early = _early_session(ctx, request, spec)
    try:
        try:
            blocked = await ctx.ip_blocker.blocked_for(ip)
        except BaseException:
            _drop(early)
            raise
        if blocked:
            _drop(early)
            raise ProblemError(
                429,
                "This address is temporarily blocked",
                slug="ip-blocked",
                headers={"Retry-After": str(blocked)},
            )
        if spec is None:
            # Unknown paths still cost the caller: probing is limited like any public call.
            await _limit(ctx, [Limit("public", ip, *PUBLIC_LIMITS["public"])], ip)
            return await handler(request)
        if spec.auth == "public":
            limit, window = PUBLIC_LIMITS[spec.rate if spec.rate != "principal" else "public"]
            decisions += await _limit(ctx, [Limit(spec.rate, ip, limit, window)], ip)
        else:
            identity = await _authenticate(ctx, request, spec, early)
            if identity.kind == "session" and request.method in STATE_CHANGING and spec.csrf:
                check_csrf(request, ctx.keys.csrf, identity.session_id)
            settings = ctx.settings
            # Each API key has a budget of its own (MAJLIS_API_KEY_RATE_LIMIT_PER_MINUTE);
            # people have theirs; both also count against the tenant's (asked together, as
            # if one after the other: a request the first refuses does not count on the next).
            is_key = identity.kind == "api_key"
            own = Limit(
                "api_key" if is_key else "principal",
                str(identity.principal_id),
                settings.api_key_rate_limit_per_minute
                if is_key
                else settings.user_rate_limit_per_minute,
                60,
            )
            tenant = Limit(
                "tenant", str(identity.tenant_id), settings.tenant_rate_limit_per_minute, 60
            )
            decisions += await _limit(ctx, [own, tenant], ip)
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
