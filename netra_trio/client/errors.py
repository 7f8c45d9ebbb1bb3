"""What the Python clients raise: one base class, and one class per way a
connection or a request can fail. Each carries what the protocol said (the
HTTP status and error code of a refused handshake, the ``error`` frame's
code, the close code), never the token."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Every error of the Python clients."""


class ConnectFailed(ClientError):
    """No WebSocket could be opened: the address did not answer, TLS failed,
    or the handshake took longer than its timeout. ``__cause__`` holds the
    underlying error."""


class HandshakeRejected(ClientError):
    """The server refused the handshake with an HTTP status and the body
    ``{"error": {"code", "message"}}``; ``retry_after_s`` from ``Retry-After``
    (429 and 503)."""

    def __init__(
        self, status: int, code: str | None, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"HTTP {status}{f' {code}' if code else ''}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


class ProtocolError(ClientError):
    """The server answered a request with an ``error`` frame (``code`` is the
    protocol's, e.g. ``AGENT_BUSY``, ``NOT_FOUND``, ``RATE_LIMITED``)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details
        self.correlation_id = correlation_id


class ConnectionClosed(ClientError):
    """The connection ended and the client will not open another: the close
    code says why (``1000`` when the client itself was closed, ``1006`` when
    the connection dropped without a close frame)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed with {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class ConnectionLost(ClientError):
    """The connection dropped while a request waited for its reply: the server
    may or may not have handled it. The client reconnects by itself; sending
    again is the caller's choice."""


class RequestTimeout(ClientError, TimeoutError):
    """No reply came within the request's timeout."""


class MalformedFrame(ClientError):
    """The server sent a frame that is not a protocol frame (not a JSON
    object, or an envelope field of the wrong type)."""


class TokenUnavailable(ClientError):
    """The token provider failed, or gave a token the client cannot use;
    ``__cause__`` holds its error."""
