"""A refused handshake read into :class:`HandshakeRejected`: the HTTP status,
the protocol's code and message from the JSON body
(``{"error": {"code", "message"}}``), and ``Retry-After`` in seconds."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from netra_trio.client.errors import HandshakeRejected


def read_rejection(
    status: int, headers: Iterable[tuple[str, str]], body: bytes | None
) -> HandshakeRejected:
    code, message = None, f"the server refused the handshake with HTTP {status}"
    try:
        error = json.loads(body or b"")["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass  # not a netra server's body: the status says enough
    retry_after = None
    for name, value in headers:
        if name.lower() == "retry-after":
            retry_after = _seconds(value)
    return HandshakeRejected(status, code, message, retry_after)


def _seconds(value: str) -> float | None:
    """Whole seconds (what the server sends); an HTTP date or garbage: None."""
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
