"""Handshake decisions: path, query, authentication, admission, and the HTTP
rejections that go with them (a JSON body, never the token)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import attrs
import orjson

from netra_trio.auth import Principal
from netra_trio.errors import ErrorCode

WS_PATH = "/ws"


@attrs.frozen
class Rejection:
    status: int
    code: ErrorCode
    message: str

    def body(self) -> bytes:
        return orjson.dumps({"error": {"code": str(self.code), "message": self.message}})

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"Content-Type", b"application/json"), (b"Connection", b"close")]


@attrs.frozen
class Target:
    path: str
    session_id: str | None
    batch: bool


def parse_target(raw: str) -> Target:
    parts = urlsplit(raw)
    query = parse_qs(parts.query, keep_blank_values=True)
    session = query.get("session_id", [None])[0]
    return Target(
        path=parts.path,
        session_id=session or None,
        batch=query.get("batch", ["0"])[0] in ("1", "true"),
    )


@attrs.frozen
class Admitted:
    principal: Principal
    target: Target


def unauthorized(reason: str) -> Rejection:
    return Rejection(401, ErrorCode.UNAUTHORIZED, reason)


NOT_FOUND = Rejection(404, ErrorCode.NOT_FOUND, f"no such endpoint; connect to {WS_PATH}")
SHUTTING_DOWN = Rejection(503, ErrorCode.SHUTTING_DOWN, "server is shutting down")


SESSION_FORBIDDEN = Rejection(403, ErrorCode.FORBIDDEN, "that session belongs to another user")
STORAGE_UNAVAILABLE = Rejection(503, ErrorCode.INTERNAL, "storage is unavailable; try again")


def handshake_rate(retry_after_s: float) -> Rejection:
    return Rejection(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many handshakes from this address; retry in {retry_after_s:.1f} s",
    )


def too_many(limit: int) -> Rejection:
    return Rejection(
        429,
        ErrorCode.TOO_MANY_CONNECTIONS,
        f"user already has {limit} connections, the most allowed",
    )
