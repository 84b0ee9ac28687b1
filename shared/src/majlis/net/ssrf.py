"""An HTTP client that only reaches public addresses (SSRF protection).

Used where a tenant chooses the URL (chatflow http_request nodes, outbound webhooks):
  * only http and https; no credentials in the URL;
  * IP literals in every form (dotted, decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`,
    IPv6, IPv4-mapped IPv6) are checked before anything is sent;
  * names are resolved by us (GuardedResolver) and refused when ANY address is not public:
    loopback, private, link-local (169.254.169.254, the cloud metadata address), CGNAT
    (100.64/10), multicast, unspecified, reserved, and their IPv6 equivalents. aiohttp connects
    only to the addresses the resolver vetted, and the DNS cache is off, so a name cannot be
    re-pointed (rebinding) between the check and the connection;
  * redirects are followed by hand, at most MAX_REDIRECTS, each hop checked again (or not
    at all with `follow_redirects=False`: outbound webhooks treat a 3xx as a failure);
  * a total timeout and a cap on the response size.
`allow_loopback` (local development only) admits 127.0.0.0/8 and ::1, nothing else.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 1_000_000
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class OutboundRefused(Exception):
    """The request was refused before any connection to the refused address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _literal(host: str) -> IpAddress | None:
    """The address a host names literally, in any form the C library accepts; else None."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    # inet_aton takes the historic forms browsers and libcs still resolve: 2130706433,
    # 0177.0.0.1, 0x7f.1, 127.1. A real name never consists of these characters only.
    if all(ch in "0123456789abcdefxABCDEFX." for ch in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def check_address(address: IpAddress, *, allow_loopback: bool = False) -> None:
    """Refuse any address that is not public (OutboundRefused)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            check_address(mapped, allow_loopback=allow_loopback)
            return
    if address.is_loopback and allow_loopback:
        return
    if (
        not address.is_global
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT)
    ):
        raise OutboundRefused("address not allowed")


def check_url(url: str | URL, *, allow_loopback: bool = False) -> URL:
    """The parsed URL if its scheme and (literal) host may be used; OutboundRefused otherwise."""
    parsed = URL(url) if isinstance(url, str) else url
    if parsed.scheme not in ("http", "https"):
        raise OutboundRefused("scheme not allowed")
    if not parsed.host:
        raise OutboundRefused("no host")
    if parsed.user is not None or parsed.password is not None:
        raise OutboundRefused("credentials in the URL")
    literal = _literal(parsed.host)
    if literal is not None:
        check_address(literal, allow_loopback=allow_loopback)
    return parsed


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver and refuses a name with any non-public address."""

    def __init__(self, *, allow_loopback: bool = False) -> None:
        """Resolve through a threaded getaddrinfo."""
        self._inner = ThreadedResolver()
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of `host`, all of them vetted."""
        literal = _literal(host)
        if literal is not None:
            check_address(literal, allow_loopback=self._allow_loopback)
        results = await self._inner.resolve(host, port, family)
        for result in results:
            check_address(ipaddress.ip_address(result["host"]), allow_loopback=self._allow_loopback)
        return results

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """The final response after redirects: status, headers and at most max_bytes of body."""

    status: int
    headers: dict[str, str]
    body: bytes


class GuardedClient:
    """An aiohttp session whose every connection goes through GuardedResolver."""

    def __init__(self, *, allow_loopback: bool = False, max_bytes: int = MAX_RESPONSE_BYTES):
        """Nothing connects until the first request."""
        self._allow_loopback = allow_loopback
        self._max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(allow_loopback=self._allow_loopback),
                use_dns_cache=False,
                limit=50,
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
        timeout_s: float = 5.0,
        follow_redirects: bool = True,
    ) -> OutboundResponse:
        """Send the request, following up to MAX_REDIRECTS redirects (each hop checked)."""
        target = check_url(url, allow_loopback=self._allow_loopback)
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        for _hop in range(MAX_REDIRECTS + 1):
            async with self._client().request(
                method, target, headers=headers, data=data, timeout=timeout,
                allow_redirects=False,
            ) as response:  # fmt: skip
                location = response.headers.get("Location")
                if follow_redirects and response.status in (301, 302, 303, 307, 308) and location:
                    target = check_url(
                        target.join(URL(location)), allow_loopback=self._allow_loopback
                    )
                    if response.status == 303 or (
                        response.status in (301, 302) and method == "POST"
                    ):
                        method, data = "GET", None
                    continue
                body = await self._read_capped(response)
                return OutboundResponse(response.status, dict(response.headers), body)
        raise OutboundRefused("too many redirects")

    async def _read_capped(self, response: Any) -> bytes:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_bytes:
                raise OutboundRefused("response too large")
            chunks.append(chunk)
        return b"".join(chunks)
