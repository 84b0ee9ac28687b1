"""Outbound HTTP: `egress` is the one entry point (the allow-list for the platform's own calls,
the SSRF guard of `ssrf` for addresses tenants choose)."""

from majlis.net.ssrf import (
    GuardedClient,
    GuardedResolver,
    OutboundRefused,
    OutboundResponse,
    check_address,
    check_url,
)

__all__ = [
    "GuardedClient",
    "GuardedResolver",
    "OutboundRefused",
    "OutboundResponse",
    "check_address",
    "check_url",
]
