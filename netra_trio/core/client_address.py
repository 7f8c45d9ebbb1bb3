"""The client's address: the peer's, or, behind a trusted proxy, the one the
proxies forwarded (``--trusted-proxies``).

Only when the TCP peer is a trusted proxy are ``Forwarded`` (RFC 7239, its
``for=`` parameter) and ``X-Forwarded-For`` read. Each proxy appends the
address it received the request from, so the list is read from the right: the
first address that is not itself a trusted proxy is the client (when every
one is trusted, the left-most). What lies left of it was written by the
client and is never looked at.

Where the answer cannot be trusted, the peer's address is used: a header that
does not parse, an element that the walk needs and that is not an address
(``unknown``, an obfuscated name, a missing ``for=``), or both headers present
and naming different clients (one of them came from the client itself, as
when the proxy sets one header and passes the other through untouched).

:func:`limit_key` is the key that per-address limits count under: the address
itself, or its /64 network for IPv6 (one host commonly holds a whole /64).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence

import attrs

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Headers = Sequence[tuple[bytes, bytes]]

IPV6_LIMIT_PREFIX = 64


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``10.0.0.0/8``, ``192.0.2.7`` (one address), ``fd00::/8``; ValueError
    naming the first value that is none of these."""
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or a CIDR network") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as a header or a socket gives it: ``192.0.2.1``, ``::1``,
    ``[2001:db8::1]``, with or without a ``:port``; IPv4-mapped IPv6 as IPv4.
    None for anything else."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not _is_port(text[end + 1 :])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port
        text, port = text.split(":")
        if not _is_port(":" + port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    digits = text[1:]
    if text[:1] != ":" or not 0 < len(digits) <= 5:
        return False
    return digits.isascii() and digits.isdigit() and int(digits) <= 65535


def limit_key(address: str) -> str:
    """What per-address limits count under: an IPv6 address's /64 network,
    any other address (or a name that is not an address) itself."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((parsed, IPV6_LIMIT_PREFIX), strict=False)
        return str(network)
    return address if parsed is None else str(parsed)


class _Kind(enum.Enum):
    ABSENT = "absent"
    MALFORMED = "malformed"
    CLIENT = "client"  # the right-most address that is not a trusted proxy
    ALL_TRUSTED = "all_trusted"  # every address is a trusted proxy: the left-most


@attrs.frozen
class _Reading:
    kind: _Kind
    address: IPAddress | None = None


_ABSENT = _Reading(_Kind.ABSENT)
_MALFORMED = _Reading(_Kind.MALFORMED)

# RFC 7230 token and quoted-string, as RFC 7239 uses them
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR = re.compile(rf'\s*({_TOKEN})\s*=\s*({_TOKEN}|"(?:[^"\\]|\\.)*")\s*')


def _forwarded_nodes(value: str) -> list[str | None] | None:
    """The ``for=`` value of each element of a ``Forwarded`` header (None for
    an element without one); None when the header does not parse."""
    nodes: list[str | None] = []
    position, node, end = 0, None, len(value)
    while position < end:
        match = _PAIR.match(value, position)
        if match is None:
            return None
        name, raw = match.group(1).lower(), match.group(2)
        if name == "for":
            if node is not None:
                return None  # two for= in one element
            node = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
        if position < end:
            separator = value[position]
            position += 1
            if separator == ",":
                nodes.append(node)
                node = None
            elif separator != ";":
                return None
            if position == end:
                return None  # a trailing separator
    nodes.append(node)
    return nodes


def _joined(headers: Headers, name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


class TrustedProxies:
    """The networks of ``--trusted-proxies`` and the client address they imply."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks = parse_networks(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, peer: str) -> bool:
        address = parse_address(peer)
        return address is not None and self._trusted(address)

    def _trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)

    def client_address(self, peer: str, headers: Headers) -> str:
        """The client's address for a request that ``peer`` (an address
        without its port) sent with ``headers``."""
        if not self._networks or not self.trusts(peer):
            return peer
        forwarded = _joined(headers, b"forwarded")
        by_forwarded = _ABSENT
        if forwarded is not None:
            nodes = _forwarded_nodes(forwarded)
            by_forwarded = _MALFORMED if nodes is None else self._walk(nodes)
        by_xff = _ABSENT
        xff = _joined(headers, b"x-forwarded-for")
        if xff is not None:
            by_xff = self._walk([part.strip() or None for part in xff.split(",")])
        return self._choose(peer, by_forwarded, by_xff)

    def _walk(self, nodes: list[str | None]) -> _Reading:
        for node in reversed(nodes):
            address = None if node is None else parse_address(node)
            if address is None:
                return _MALFORMED
            if not self._trusted(address):
                return _Reading(_Kind.CLIENT, address)
        leftmost = None if nodes[0] is None else parse_address(nodes[0])
        return _Reading(_Kind.ALL_TRUSTED, leftmost)

    @staticmethod
    def _choose(peer: str, *readings: _Reading) -> str:
        kinds = {reading.kind for reading in readings}
        if _Kind.MALFORMED in kinds:
            return peer
        clients = {r.address for r in readings if r.kind is _Kind.CLIENT}
        if len(clients) > 1:
            return peer  # the two headers disagree: one was written by the client
        if clients:
            return str(clients.pop())
        for reading in readings:
            if reading.kind is _Kind.ALL_TRUSTED and reading.address is not None:
                return str(reading.address)
        return peer
