"""The gateway's route table: one declaration per public route, used by the router, the edge
middleware (authentication, roles, CSRF, rate limits) and the OpenAPI document alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["public", "user", "any"]
RateClass = Literal[
    "login", "register", "refresh", "accept", "two_factor", "public", "stream", "principal"
]
ALL_ROLES = frozenset({"owner", "admin", "agent", "viewer"})
MANAGERS = frozenset({"owner", "admin"})

# Per-IP limits of the public endpoints: (limit, window seconds).
PUBLIC_LIMITS: dict[RateClass, tuple[int, int]] = {
    "login": (5, 900),
    "register": (3, 3600),
    "refresh": (60, 60),
    "accept": (10, 3600),
    # The code step of a sign-in whose password was right; wrong codes also lock the account.
    "two_factor": (10, 900),
    "public": (120, 60),
    # WebSocket upgrades: a dashboard reconnects now and then, never dozens of times a minute.
    "stream": (30, 60),
}


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: Auth = "user"
    roles: frozenset[str] = ALL_ROLES
    scope: str | None = None  # API keys holding this scope may call the route
    rate: RateClass = "principal"
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # the 2xx JSON answer's schema (OpenAPI)
    responses: dict[int, str] = field(default_factory=dict)
    tag: str = "gateway"
    csrf: bool = True  # session requests that change state must carry the CSRF token
    # Open to a sign-in that may only set up two-factor sign-in (its business requires it and
    # the user has none yet): the profile, signing out, and the set-up itself.
    setup_only: bool = False


SPECS: list[RouteSpec] = []
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip", str)


def route(method: str, path: str, summary: str, **options: object) -> Callable[[Handler], Handler]:
    """Declare a route; the handler is registered by `add_routes`."""

    def decorate(handler: Handler) -> Handler:
        SPECS.append(RouteSpec(method, path, handler, summary, **options))  # type: ignore[arg-type]
        return handler

    return decorate


SPEC_KEY: web.AppKey[dict[tuple[str, str], RouteSpec]] = web.AppKey("route_specs", dict)


def add_routes(app: web.Application, specs: list[RouteSpec]) -> None:
    """Register every declared route and index the specs by (method, canonical path)."""
    index: dict[tuple[str, str], RouteSpec] = {}
    for spec in specs:
        app.router.add_route(spec.method, spec.path, spec.handler)
        index[(spec.method, spec.path)] = spec
    app[SPEC_KEY] = index


def spec_for(request: web.Request) -> RouteSpec | None:
    """The declaration of the route a request matched, if it is one of ours."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return request.app[SPEC_KEY].get((request.method, resource.canonical))
