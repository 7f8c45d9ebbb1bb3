"""Which browser origins may open a WebSocket (``--allowed-origins``).

An origin is compared in its serialised form ``scheme://host[:port]``: the
scheme and the host in lower case (a host beyond ASCII in its IDNA form), the
scheme's default port dropped (80 for http and ws, 443 for https and wss), no
path (a lone ``/`` is tolerated), no query, fragment or user. So
``HTTPS://App.Example.com:443/`` and ``https://app.example.com`` are one origin.

A handshake without an ``Origin`` header (a client that is not a browser) is
always allowed. With a list set, a handshake is refused when its ``Origin`` is
not on it, including the opaque origin ``null`` (a sandboxed frame, a file),
an ``Origin`` that does not parse, and a request with more than one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalise_origin(text: str) -> str | None:
    """``text`` as ``scheme://host[:port]``; None when it is not an origin."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    if text.strip().endswith(("?", "#")):
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower case already
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class OriginPolicy:
    """``allowed`` origins, or None for any."""

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        if allowed is None:
            self._allowed: frozenset[str] | None = None
            return
        normalised = set()
        for origin in allowed:
            value = normalise_origin(origin)
            if value is None:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
            normalised.add(value)
        self._allowed = frozenset(normalised)

    def allows(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        if self._allowed is None:
            return True
        origins = [value for name, value in headers if name.lower() == b"origin"]
        if not origins:
            return True
        if len(origins) > 1:
            return False
        origin = normalise_origin(origins[0].decode("latin-1"))
        return origin is not None and origin in self._allowed
