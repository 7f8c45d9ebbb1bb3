"""The client's address behind trusted proxies: the peer's, unless the peer is
a trusted proxy; then the right-most forwarded address that is not a trusted
proxy; the peer's again whenever the headers cannot be trusted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.client_address import (
    TrustedProxies,
    limit_key,
    parse_address,
    parse_networks,
)

PROXY = "10.0.0.5"
PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48"])


def xff(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode())]


def forwarded(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"forwarded", value.encode())]


# -- from an untrusted peer, the headers are never read --------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        xff("203.0.113.9"),
        forwarded("for=203.0.113.9"),
        [*xff("203.0.113.9"), *forwarded("for=203.0.113.9")],
        xff("not an address"),
    ],
)
def test_an_untrusted_peer_cannot_name_its_address(headers: list[tuple[bytes, bytes]]) -> None:
    assert PROXIES.client_address("198.51.100.4", headers) == "198.51.100.4"


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert TrustedProxies().client_address(PROXY, xff("203.0.113.9")) == PROXY
    assert not TrustedProxies()
    assert PROXIES


def test_a_peer_that_is_not_an_address_is_the_client() -> None:
    assert PROXIES.client_address("MemorySendStream", xff("203.0.113.9")) == "MemorySendStream"


# -- X-Forwarded-For -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        # each proxy appends the address it received from: right to left
        ("203.0.113.9, 10.1.2.3", "203.0.113.9"),
        ("203.0.113.9,10.1.2.3,10.9.9.9", "203.0.113.9"),
        # the client's own claims are left of the real address and ignored
        ("1.2.3.4, 203.0.113.9", "203.0.113.9"),
        ("garbage, 203.0.113.9", "203.0.113.9"),
        ("1.2.3.4, 203.0.113.9, 10.1.2.3", "203.0.113.9"),
        # every address a trusted proxy: the left-most (an internal client)
        ("10.7.7.7, 10.1.2.3", "10.7.7.7"),
        # with a port, in brackets, IPv4-mapped
        ("203.0.113.9:51234", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:db8::1, 2001:db8:ffff::7", "2001:db8::1"),
    ],
)
def test_the_right_most_address_that_is_not_a_trusted_proxy(value: str, client: str) -> None:
    assert PROXIES.client_address(PROXY, xff(value)) == client


def test_several_header_lines_are_one_list_in_order() -> None:
    headers = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"203.0.113.9, 10.1.1.1")]
    assert PROXIES.client_address(PROXY, headers) == "203.0.113.9"
    headers = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-for", b"10.1.1.1")]
    assert PROXIES.client_address(PROXY, headers) == "203.0.113.9"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "unknown",
        "203.0.113.9, unknown",  # the element the walk needs is not an address
        "203.0.113.9, ",
        "203.0.113.9, 10.1.1.1, 999.1.1.1",
        "203.0.113.9:99999",
        "[2001:db8::1",
        "example.com",
    ],
)
def test_a_malformed_header_falls_back_to_the_peer(value: str) -> None:
    assert PROXIES.client_address(PROXY, xff(value)) == PROXY


# -- Forwarded (RFC 7239) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("for=203.0.113.9", "203.0.113.9"),
        ("For=203.0.113.9", "203.0.113.9"),
        ('for="203.0.113.9:4711"', "203.0.113.9"),
        ('for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("for=203.0.113.9;proto=https;by=10.0.0.5", "203.0.113.9"),
        ("proto=https;for=203.0.113.9", "203.0.113.9"),
        ("for=203.0.113.9, for=10.1.1.1", "203.0.113.9"),
        ("for=192.0.2.1, for=203.0.113.9", "203.0.113.9"),
        ("for=192.0.2.1 , for=203.0.113.9;proto=http", "203.0.113.9"),
        ('for=unknown, for="203.0.113.9"', "203.0.113.9"),  # left of the answer: ignored
        ('for="\\203.0.113.9"', "203.0.113.9"),  # a quoted-pair
    ],
)
def test_forwarded_for(value: str, client: str) -> None:
    assert PROXIES.client_address(PROXY, forwarded(value)) == client


@pytest.mark.parametrize(
    "value",
    [
        "for=unknown",
        "for=_hidden",
        "proto=https",  # the proxy did not say whom it received from
        "for=203.0.113.9, proto=https",
        "for=203.0.113.9;for=198.51.100.1",
        'for="203.0.113.9',
        "for=203.0.113.9,",
        "for=203.0.113.9 garbage",
        "for",
        "",
    ],
)
def test_a_malformed_forwarded_header_falls_back_to_the_peer(value: str) -> None:
    assert PROXIES.client_address(PROXY, forwarded(value)) == PROXY


# -- both headers ----------------------------------------------------------------------------------


def test_both_headers_that_agree_name_the_client() -> None:
    headers = [*forwarded("for=203.0.113.9"), *xff("203.0.113.9")]
    assert PROXIES.client_address(PROXY, headers) == "203.0.113.9"


def test_both_headers_that_disagree_fall_back_to_the_peer() -> None:
    """A proxy that sets one header passes the other through as the client sent
    it: which one is true cannot be told."""
    headers = [*forwarded("for=198.51.100.66"), *xff("203.0.113.9")]
    assert PROXIES.client_address(PROXY, headers) == PROXY


def test_a_header_of_trusted_proxies_only_adds_nothing_to_the_other() -> None:
    headers = [*forwarded("for=10.2.2.2"), *xff("203.0.113.9, 10.2.2.2")]
    assert PROXIES.client_address(PROXY, headers) == "203.0.113.9"


def test_one_malformed_header_of_two_falls_back_to_the_peer() -> None:
    headers = [*forwarded("for=unknown"), *xff("203.0.113.9")]
    assert PROXIES.client_address(PROXY, headers) == PROXY


def test_a_trusted_peer_without_headers_is_the_client() -> None:
    assert PROXIES.client_address(PROXY, [(b"host", b"x")]) == PROXY


@settings(max_examples=300, deadline=None)
@given(
    claimed=st.lists(st.ip_addresses(v=4).map(str), max_size=4),
    client=st.ip_addresses(v=4).filter(lambda a: not a.is_private).map(str),
    hops=st.lists(st.integers(0, 255).map(lambda n: f"10.0.0.{n}"), max_size=3),
)
def test_whatever_the_client_claims_it_gets_the_address_the_proxy_saw(
    claimed: list[str], client: str, hops: list[str]
) -> None:
    """The client writes any list; the trusted proxies append the real address
    and their own: the answer is the real address."""
    header = ", ".join([*claimed, client, *hops])
    assert PROXIES.client_address(PROXY, xff(header)) == client


# -- parsing ---------------------------------------------------------------------------------------


def test_networks_accept_addresses_and_cidrs() -> None:
    networks = parse_networks(["10.0.0.0/8", "192.0.2.7", "fd00::/8", " 127.0.0.1/32 "])
    assert [str(n) for n in networks] == ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8", "127.0.0.1/32"]
    assert TrustedProxies(["10.0.0.1/8"]).trusts("10.200.0.1")  # host bits are tolerated


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "", "10.0.0.0/8/8"])
def test_a_network_that_is_not_one_is_named(value: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address or a CIDR network") as info:
        parse_networks(["10.0.0.0/8", value])
    assert repr(value) in str(info.value)


def test_ipv4_mapped_peers_are_matched_as_ipv4() -> None:
    assert PROXIES.trusts("::ffff:10.1.2.3")
    assert PROXIES.client_address("::ffff:10.1.2.3", xff("203.0.113.9")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("[::1]", "::1"),
        ("[::1]:80", "::1"),
        ("::1", "::1"),
        ("192.0.2.1:", None),
        ("192.0.2.1:x", None),
        ("[::1]x", None),
        ("name", None),
    ],
)
def test_parse_address(text: str, parsed: str | None) -> None:
    address = parse_address(text)
    assert (None if address is None else str(address)) == parsed


def test_limits_count_an_ipv6_host_by_its_64_network() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::9")
    assert limit_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("203.0.113.9") == "203.0.113.9"
    assert limit_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert limit_key("MemorySendStream") == "MemorySendStream"
