"""Where a client connects: a ``ws://`` or ``wss://`` URL read once.

The port defaults to 80 (``ws``) or 443 (``wss``); a URL without a path
means the server's endpoint, ``/ws``. The resource sent in the request line
keeps the URL's query, with ``session_id`` set or removed when a client
resumes a session.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

DEFAULT_PORTS = {"ws": 80, "wss": 443}


class _Keep:
    """The URL's own ``session_id`` (or none), as it was given."""


KEEP = _Keep()
ENDPOINT = "/ws"


@attrs.frozen
class ServerAddress:
    secure: bool
    host: str  # a name or an address, without brackets
    port: int
    path: str
    query: tuple[tuple[str, str], ...] = ()
    raw_query: str | None = None  # as written in the URL (sent as is when kept)

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS["wss" if self.secure else "ws"]:
            return host
        return f"{host}:{self.port}"

    @property
    def session_id(self) -> str | None:
        """The ``session_id`` the URL names, if any."""
        return next((v for k, v in self.query if k == "session_id"), None)

    def resource(self, session_id: str | _Keep | None = KEEP) -> str:
        """The request target: the path and the query, with ``session_id``
        replaced by the one given (removed when None; as in the URL by default)."""
        if isinstance(session_id, _Keep):
            if self.raw_query is not None:
                return f"{self.path}?{self.raw_query}" if self.raw_query else self.path
            query = list(self.query)
        else:
            query = [(k, v) for k, v in self.query if k != "session_id"]
            if session_id is not None:
                query.append(("session_id", session_id))
        return self.path + (f"?{urlencode(query)}" if query else "")

    def url(self, session_id: str | _Keep | None = KEEP) -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{self.host_header}{self.resource(session_id)}"


def parse_url(url: str) -> ServerAddress:
    """Read ``ws[s]://HOST[:PORT][/PATH][?QUERY]``; ValueError names what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"cannot read the URL {url!r}: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"the URL {url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL with credentials is refused: pass the token instead")
    if parts.fragment:
        raise ValueError(f"a WebSocket URL has no fragment, got {url!r}")
    return ServerAddress(
        secure=parts.scheme == "wss",
        host=parts.hostname,
        port=DEFAULT_PORTS[parts.scheme] if port is None else port,
        path=parts.path or ENDPOINT,
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        raw_query=parts.query,
    )
