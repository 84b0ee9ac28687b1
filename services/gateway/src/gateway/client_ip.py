"""The client's IP address, as far as our own proxies vouch for it.

`X-Forwarded-For` is believed only when the socket peer is one of our trusted proxies, and
then only as far back as the chain of trusted proxies goes: each trusted hop vouches for the
address to its left, and the first address that is not a trusted proxy is the client. A
header sent by anyone else changes nothing, so a client cannot pick its own rate-limit key
or the IP that is logged (security reference §3.2, §11 item 27).

Pass every `X-Forwarded-For` header joined with "," (e.g. `",".join(headers.getall(...))`):
several headers mean the same as one comma-separated header.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = ["UNKNOWN", "Network", "client_ip", "normalize_ip", "parse_trusted"]

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

# A peer without an IP (a Unix socket with no trusted proxy in front): every such request
# shares one key, which errs towards limiting too much rather than not at all.
UNKNOWN = "unknown"

# A proxy chain longer than this is not ours; bounding the walk bounds the work per request.
_MAX_HOPS = 16


def parse_trusted(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse trusted proxy IPs/CIDRs once at start-up; a bad entry raises ValueError."""
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            raise ValueError("empty trusted proxy entry")
        # strict: "10.0.0.1/8" is a typo for a host or a network, not something to guess at.
        network = ip_network(text, strict=True)
        networks.append(network)
        if isinstance(network, IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:
                # Peers are normalised to IPv4, so "::ffff:10.0.0.0/104" must match 10.0.0.0/8.
                networks.append(IPv4Network(f"{mapped}/{network.prefixlen - 96}"))
    return tuple(networks)


def _parse_address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("["):
        # "[2001:db8::1]" or "[2001:db8::1]:443", as some proxies write IPv6 with a port.
        end = text.find("]")
        if end == -1:
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # "203.0.113.7:51234": IPv4 with a port
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_ip(text: str) -> str:
    """The canonical text of an IP (IPv4-mapped IPv6 as IPv4); ValueError if it is not one."""
    address = _parse_address(text)
    if address is None:
        raise ValueError("not an IP address")
    return str(address)


@functools.lru_cache(maxsize=8)
def _parse_cached(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted(entries)


def _networks(trusted: Sequence[str | Network]) -> tuple[Network, ...]:
    if all(isinstance(entry, IPv4Network | IPv6Network) for entry in trusted):
        return tuple(entry for entry in trusted if not isinstance(entry, str))
    return _parse_cached(tuple(str(entry) for entry in trusted))


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str | Network]
) -> str:
    """The client IP: the socket peer, or the XFF hop just before our trusted proxy chain.

    If a trusted hop reports something that is not an IP, we stop there and use that hop:
    it is the last address we can vouch for, and lumping its clients together can only make
    limits stricter, never let a client choose its own key.
    """
    peer_address = _parse_address(peer) if peer else None
    if peer_address is None:
        return UNKNOWN
    networks = _networks(trusted_proxies)
    if not networks or not _is_trusted(peer_address, networks):
        return str(peer_address)
    if not forwarded_for or not forwarded_for.strip():
        return str(peer_address)
    last_trusted = peer_address
    # An empty entry ("a,,b" or a trailing comma) is garbage like any other: we stop there.
    for hop in reversed(forwarded_for.split(",")[-_MAX_HOPS:]):
        address = _parse_address(hop)
        if address is None:
            return str(last_trusted)
        if not _is_trusted(address, networks):
            return str(address)
        last_trusted = address
    # Every hop we looked at is one of our proxies (e.g. a proxy's own health check).
    return str(last_trusted)
