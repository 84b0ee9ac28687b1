"""The one entry point for the platform's outbound HTTP (data residency).

Three kinds of destination, three doors, and no other place in services/ or shared/ opens an
``aiohttp.ClientSession`` (tests/unit/test_egress_chokepoint.py fails if one appears):

* ``egress_session`` — the platform's own calls: Meta's Graph API, media downloads, the AI
  providers. Every request, and every redirect hop, is checked against the egress allow-list
  (``MAJLIS_EGRESS_ALLOWED_HOSTS``) *before* any connection; a host not on it raises
  ``EgressRefused``, an ``aiohttp.ClientError``, which the Graph client and the AI providers
  already treat as "unavailable". The refusal is logged with the host only (never the path,
  the query or a token) and counted: ``majlis_egress_refused_total{host}`` on the service's
  /metrics and a shared per-host total in Redis (shown by ``GET /api/v1/platform/residency``).
* ``internal_session`` — the gateway's calls to the platform's own back ends
  (``MAJLIS_*_URL``); held to those hosts the same way.
* ``tenant_target_client`` — destinations a tenant chooses (chatflow ``http_request`` nodes,
  outbound webhooks). These are the tenant's own systems, so the allow-list does not apply;
  they go through the SSRF guard (``majlis.net.ssrf``): public addresses only, checked after
  DNS resolution and on every redirect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError
from yarl import URL

from majlis.ai.settings import AiSettings
from majlis.logging import get_logger
from majlis.net.ssrf import GuardedClient
from majlis.settings import Settings

log = get_logger(__name__)

# Meta's Graph API, Meta's media CDN (lookaside.fbsbx.com serves media download URLs) and
# the AI providers the platform supports.
PUBLIC_EGRESS_HOSTS: tuple[str, ...] = (
    "graph.facebook.com",
    "lookaside.fbsbx.com",
    "api.openai.com",
    "generativelanguage.googleapis.com",
)
REFUSED_KEY = "egress:refused"  # Redis hash host -> refusals, under the settings' prefix


class EgressRefused(aiohttp.ClientError):
    """An outbound request to a host that is not on the egress allow-list (nothing was sent)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"egress to {host!r} refused: not on MAJLIS_EGRESS_ALLOWED_HOSTS")
        self.host = host


def _host_of(url: str) -> str | None:
    parsed = URL(url)
    if not parsed.host:
        return None
    host = _bracket(parsed.host.lower())
    return host if parsed.explicit_port is None else f"{host}:{parsed.explicit_port}"


def allowed_hosts(settings: Settings, ai_settings: AiSettings | None = None) -> tuple[str, ...]:
    """The egress allow-list: the configured one, or the defaults and the configured base URLs."""
    if settings.egress_allowed_hosts is not None:
        return tuple(dict.fromkeys(h.strip().lower() for h in settings.egress_allowed_hosts))
    ai = ai_settings if ai_settings is not None else AiSettings()
    configured = (settings.graph_base_url, ai.openai_base_url, ai.gemini_base_url)
    hosts = [*PUBLIC_EGRESS_HOSTS, *(h for h in map(_host_of, configured) if h is not None)]
    return tuple(dict.fromkeys(hosts))


def internal_hosts(settings: Settings) -> tuple[str, ...]:
    """The hosts of the platform's own back ends (what the gateway forwards to)."""
    urls = (settings.inbox_url, settings.chatflow_url, settings.broadcast_url, settings.audit_url)
    return tuple(dict.fromkeys(h for h in map(_host_of, urls) if h is not None))


class EgressPolicy:
    """Admits requests to listed hosts; refuses, logs and counts every other one."""

    def __init__(
        self,
        hosts: Iterable[str],
        *,
        registry: CollectorRegistry | None = None,
        redis: aioredis.Redis | None = None,
        redis_prefix: str = "",
        kind: str = "egress",
    ) -> None:
        """`hosts` are "host" (any port) or "host:port" entries, compared case-insensitively."""
        self.hosts = tuple(h.lower() for h in hosts)
        self._any_port = frozenset(h for h in self.hosts if not _has_port(h))
        self._exact = frozenset(h for h in self.hosts if _has_port(h))
        self._redis = redis
        self._redis_key = f"{redis_prefix}{REFUSED_KEY}"
        self._kind = kind
        self.refused: dict[str, int] = {}
        self._counter = (
            Counter(
                "majlis_egress_refused_total",
                "Outbound requests refused because their host is not on the egress allow-list",
                ["host"],
                registry=registry,
            )
            if registry is not None
            else None
        )

    def is_allowed(self, url: URL) -> bool:
        """Whether a request to `url` may leave the platform."""
        host = _bracket((url.host or "").lower().rstrip("."))
        if host in self._any_port:
            return True
        return url.port is not None and f"{host}:{url.port}" in self._exact

    async def check(self, url: URL) -> None:
        """Raise EgressRefused (after logging and counting) unless `url`'s host is listed."""
        if self.is_allowed(url):
            return
        host = (url.host or "").lower()
        # The host only: a path or query may carry ids or, for Meta's CDN, a signed token.
        log.warning("egress.refused", host=host, kind=self._kind)
        self.refused[host] = self.refused.get(host, 0) + 1
        if self._counter is not None:
            self._counter.labels(host=host).inc()
        if self._redis is not None:
            try:
                await self._redis.hincrby(self._redis_key, host, 1)
            except RedisError:
                log.warning("egress.refusal_not_counted", host=host)
        raise EgressRefused(host)

    async def middleware(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        """aiohttp client middleware: runs before every connection, redirect hops included."""
        await self.check(request.url)
        return await handler(request)


def egress_session(policy: EgressPolicy, **options: Any) -> aiohttp.ClientSession:
    """A session for the platform's own outbound calls (Graph API, media, AI providers)."""
    return aiohttp.ClientSession(middlewares=(policy.middleware,), **options)


def internal_session(policy: EgressPolicy, **options: Any) -> aiohttp.ClientSession:
    """A session for calls to the platform's own back ends (a policy of `internal_hosts`)."""
    return aiohttp.ClientSession(middlewares=(policy.middleware,), **options)


def tenant_loopback_allowed(settings: Settings) -> bool:
    """Whether tenant-chosen URLs may reach loopback (MAJLIS_OUTBOUND_ALLOW_LOOPBACK): a local
    development convenience, never in production, whatever the flag says."""
    return settings.outbound_allow_loopback and settings.env != "prod"


def tenant_target_client(settings: Settings, **options: Any) -> GuardedClient:
    """The client for tenant-chosen URLs: not the allow-list but the SSRF guard."""
    return GuardedClient(allow_loopback=tenant_loopback_allowed(settings), **options)


async def refusal_totals(redis: aioredis.Redis, redis_prefix: str) -> dict[str, int]:
    """Refusals per host, summed over every process of the deployment (from Redis)."""
    raw = await redis.hgetall(f"{redis_prefix}{REFUSED_KEY}")
    return {_text(k): int(v) for k, v in raw.items()}


def _has_port(entry: str) -> bool:
    if entry.startswith("["):
        return "]:" in entry
    return entry.count(":") == 1


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
