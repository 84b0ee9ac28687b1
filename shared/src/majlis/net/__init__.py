"""Outbound HTTP to addresses customers or tenants choose, guarded against SSRF."""

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
