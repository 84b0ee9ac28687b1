"""Client IP from the socket peer and X-Forwarded-For: only our own proxies are believed."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from gateway.client_ip import UNKNOWN, client_ip, normalize_ip, parse_trusted

PROXIES = ("10.0.0.0/8", "192.0.2.10", "2001:db8:1::/48")


def test_untrusted_peer_ignores_spoofed_forwarded_for() -> None:
    assert client_ip("203.0.113.5", "1.2.3.4", PROXIES) == "203.0.113.5"
    assert client_ip("203.0.113.5", "10.0.0.1, 1.2.3.4", PROXIES) == "203.0.113.5"


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_ip("10.0.0.1", "1.2.3.4", ()) == "10.0.0.1"


def test_trusted_proxy_gives_rightmost_untrusted_entry() -> None:
    # The client put "6.6.6.6" in its own header; our proxy appended the real address.
    assert client_ip("10.1.2.3", "6.6.6.6, 198.51.100.7", PROXIES) == "198.51.100.7"


def test_chain_of_trusted_proxies_is_skipped() -> None:
    forwarded = "6.6.6.6, 198.51.100.7, 10.9.9.9, 192.0.2.10"
    assert client_ip("10.1.2.3", forwarded, PROXIES) == "198.51.100.7"


def test_cidr_boundaries() -> None:
    assert client_ip("10.255.255.255", "198.51.100.7", PROXIES) == "198.51.100.7"
    assert client_ip("11.0.0.0", "198.51.100.7", PROXIES) == "11.0.0.0"
    # A single address is a /32: its neighbour is not trusted.
    assert client_ip("192.0.2.11", "198.51.100.7", PROXIES) == "192.0.2.11"


def test_ipv6_peer_and_entries() -> None:
    assert client_ip("2001:db8:1::5", "2001:db8:ffff::9", PROXIES) == "2001:db8:ffff::9"
    assert client_ip("2001:db8:2::5", "198.51.100.7", PROXIES) == "2001:db8:2::5"
    assert client_ip("2001:db8:1::5", "[2001:db8:ffff::9]:4431", PROXIES) == "2001:db8:ffff::9"
    # Non-canonical spellings come out canonical, so one client has one rate-limit key.
    assert client_ip("2001:DB8:0:0::7", None, PROXIES) == "2001:db8::7"


def test_ipv4_mapped_ipv6_is_normalised() -> None:
    assert client_ip("::ffff:203.0.113.5", None, PROXIES) == "203.0.113.5"
    # A mapped peer inside a trusted IPv4 network is trusted.
    assert client_ip("::ffff:10.0.0.1", "::ffff:198.51.100.7", PROXIES) == "198.51.100.7"
    mapped_config = ("::ffff:10.0.0.0/104",)
    assert client_ip("10.0.0.1", "198.51.100.7", mapped_config) == "198.51.100.7"
    assert normalize_ip("::FFFF:1.2.3.4") == "1.2.3.4"


@pytest.mark.parametrize(
    "forwarded",
    ["garbage", "198.51.100.7, not-an-ip", "198.51.100.7, ", "198.51.100.7,,", "unknown"],
)
def test_garbage_stops_at_the_last_trusted_hop(forwarded: str) -> None:
    # The trusted peer reported something that is not an IP: we vouch only for the peer.
    assert client_ip("10.1.2.3", forwarded, PROXIES) == "10.1.2.3"


def test_garbage_after_a_trusted_hop_gives_that_hop() -> None:
    assert client_ip("10.1.2.3", "6.6.6.6, junk, 10.4.4.4", PROXIES) == "10.4.4.4"


def test_garbage_left_of_the_client_is_never_reached() -> None:
    assert client_ip("10.1.2.3", "junk, 198.51.100.7", PROXIES) == "198.51.100.7"


def test_ipv4_with_port_and_whitespace() -> None:
    assert client_ip("10.1.2.3", "  198.51.100.7:51234  ", PROXIES) == "198.51.100.7"


def test_only_trusted_hops_gives_the_leftmost_one() -> None:
    assert client_ip("10.1.2.3", "10.7.7.7, 10.8.8.8", PROXIES) == "10.7.7.7"
    assert client_ip("10.1.2.3", "", PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", None, PROXIES) == "10.1.2.3"


def test_very_long_chain_is_bounded() -> None:
    forwarded = ", ".join(["198.51.100.7"] + ["10.0.0.1"] * 100)
    assert client_ip("10.1.2.3", forwarded, PROXIES) == "10.0.0.1"


def test_missing_or_bad_peer() -> None:
    assert client_ip(None, "198.51.100.7", PROXIES) == UNKNOWN
    assert client_ip("not-an-ip", "198.51.100.7", PROXIES) == UNKNOWN


def test_parsed_networks_are_accepted() -> None:
    networks = parse_trusted(PROXIES)
    assert client_ip("10.1.2.3", "198.51.100.7", networks) == "198.51.100.7"


def test_parse_trusted() -> None:
    assert parse_trusted(["10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32"]) == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.1/32"),
        ip_network("2001:db8::/32"),
    )
    for bad in ("", "10.0.0.1/8", "10.0.0.0/33", "proxy.internal", "10.0.0.0/8,"):
        with pytest.raises(ValueError):  # noqa: PT011 - ValueError is the documented contract
            parse_trusted([bad])


def test_normalize_ip_rejects_non_ips() -> None:
    with pytest.raises(ValueError, match="not an IP"):
        normalize_ip("example.com")
