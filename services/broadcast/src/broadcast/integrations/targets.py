"""Which endpoint URLs may be used: checked at create/update time and again on every connect.

https only in production; http too when MAJLIS_ENV is dev or test. Loopback only with
MAJLIS_OUTBOUND_ALLOW_LOOPBACK outside production (never in production, whatever the flag).
Every address a name resolves to must be public (majlis.net's rules: no private, link-local,
metadata, CGNAT, multicast or reserved ranges); the worker sends through GuardedClient, whose
resolver checks the addresses again on every connection, so a name re-pointed after the check
(DNS rebinding) is refused then.
"""

from __future__ import annotations

import socket

from yarl import URL

from majlis.net import GuardedResolver, OutboundRefused, check_url
from majlis.net.egress import tenant_loopback_allowed
from majlis.settings import Settings

MAX_URL_LENGTH = 2048


def allow_loopback(settings: Settings) -> bool:
    """Loopback targets: a development convenience, never in production."""
    return tenant_loopback_allowed(settings)


def schemes(settings: Settings) -> frozenset[str]:
    """The URL schemes endpoints may use in this environment."""
    return frozenset({"https"}) if settings.env == "prod" else frozenset({"https", "http"})


def static_problems(url: str, settings: Settings) -> list[str]:
    """Why `url` may not be an endpoint, from the URL alone (no DNS); empty when it may."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return ["the URL cannot be parsed"]
    problems: list[str] = []
    if not parsed.is_absolute() or not parsed.host:
        return ["the URL must be absolute, with a host"]
    if parsed.scheme not in schemes(settings):
        allowed = " or ".join(sorted(schemes(settings)))
        problems.append(f"the scheme must be {allowed}")
    if parsed.user is not None or parsed.password is not None:
        problems.append("credentials in the URL are not allowed")
    if parsed.fragment:
        problems.append("a fragment is not allowed")
    try:
        check_url(parsed.with_scheme("https"), allow_loopback=allow_loopback(settings))
    except OutboundRefused:
        problems.append("the address is not public (loopback, private, link-local or reserved)")
    return problems


async def problems(url: str, settings: Settings) -> list[str]:
    """Why `url` may not be an endpoint, its host name resolved; empty when it may."""
    found = static_problems(url, settings)
    if found:
        return found
    host, resolver = URL(url).host or "", GuardedResolver(allow_loopback=allow_loopback(settings))
    try:
        await resolver.resolve(host, 443, socket.AF_UNSPEC)
    except OutboundRefused:
        return ["the host name resolves to an address that is not public"]
    except OSError:
        return ["the host name does not resolve"]
    finally:
        await resolver.close()
    return []
