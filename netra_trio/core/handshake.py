"""Handshake admission: the target, the refusals and their HTTP answers, the
handshake rate per client address and the handshakes in progress per address.

Order of the checks: on accept, the handshakes the peer's address already has
in progress (:class:`InProgress`); once the request is read, the path, the
server accepting, the client address's handshake rate, the ``Origin``
(:class:`HandshakeGate`); then, in the shell, the token, the user's connection
limit, the session. Each refusal is an HTTP status with a JSON body
``{"error": {"code", "message"}}`` that never holds the token; every 429 and
503 carries ``Retry-After`` in whole seconds, at least 1.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import attrs
import orjson

from netra_trio.core.client_address import Headers, TrustedProxies, limit_key
from netra_trio.core.limits import TokenBucket
from netra_trio.core.origins import OriginPolicy
from netra_trio.errors import ErrorCode

WS_PATH = "/ws"
MAX_TRACKED_ADDRESSES = 4096
_MUST_SAY_WHEN = (429, 503)  # statuses that always carry Retry-After


@attrs.frozen
class Rejection:
    status: int
    code: ErrorCode
    message: str
    retry_after_s: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.status in _MUST_SAY_WHEN and self.retry_after_s is None:
            raise ValueError(f"a {self.status} refusal says when to retry")

    @property
    def retry_after_header(self) -> int | None:
        """Whole seconds, at least 1."""
        if self.retry_after_s is None:
            return None
        return max(1, math.ceil(self.retry_after_s))

    def body(self) -> bytes:
        return orjson.dumps({"error": {"code": str(self.code), "message": self.message}})

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"Content-Type", b"application/json"), (b"Connection", b"close")]
        seconds = self.retry_after_header
        if seconds is not None:
            headers.append((b"Retry-After", str(seconds).encode()))
        return headers


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


NOT_FOUND = Rejection(404, ErrorCode.NOT_FOUND, f"no such endpoint; connect to {WS_PATH}")
SHUTTING_DOWN = Rejection(503, ErrorCode.SHUTTING_DOWN, "server is shutting down", 1.0)
SESSION_FORBIDDEN = Rejection(403, ErrorCode.FORBIDDEN, "that session belongs to another user")
STORAGE_UNAVAILABLE = Rejection(
    503, ErrorCode.UNAVAILABLE, "storage is unavailable; try again", 1.0
)
CLUSTER_UNAVAILABLE = Rejection(503, ErrorCode.UNAVAILABLE, "Redis is unavailable; try again", 1.0)
ORIGIN_FORBIDDEN = Rejection(403, ErrorCode.FORBIDDEN, "this origin may not connect")
TOO_MANY_IN_PROGRESS = Rejection(
    429,
    ErrorCode.RATE_LIMITED,
    "too many handshakes in progress from this address; retry in 1 s",
    1.0,
)
KEYS_UNAVAILABLE = Rejection(
    503, ErrorCode.UNAVAILABLE, "the token issuer's key set cannot be fetched; try again", 1.0
)


def unauthorized(reason: str) -> Rejection:
    return Rejection(401, ErrorCode.UNAUTHORIZED, reason)


def cooling_down(wait_s: float) -> Rejection:
    return Rejection(
        429,
        ErrorCode.RATE_LIMITED,
        f"this user's connection was just closed for abuse; retry in {math.ceil(wait_s)} s",
        wait_s,
    )


def too_many_connections(limit: int) -> Rejection:
    return Rejection(
        429,
        ErrorCode.TOO_MANY_CONNECTIONS,
        f"user already has {limit} connections, the most allowed",
        1.0,
    )


def handshake_rate(retry_after_s: float) -> Rejection:
    seconds = max(1, math.ceil(retry_after_s))
    return Rejection(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many handshakes from this address; retry in {seconds} s",
        retry_after_s,
    )


def check_request(target: Target, accepting: bool) -> Rejection | None:
    """The checks before any work is spent on the request."""
    if target.path != WS_PATH:
        return NOT_FOUND
    if not accepting:
        return SHUTTING_DOWN
    return None


class HandshakeLimiter:
    """A token bucket per client address.

    It tracks ``max_addresses`` addresses, plus those whose buckets have not
    refilled yet: forgetting a bucket that is not full would hand its address
    a fresh burst, while a full one holds nothing worth keeping. When a new
    address finds the table at its bound, every full bucket is forgotten; if
    that frees little, the next sweep waits until the table has doubled, so
    sweeps cost O(1) per new address on average (a flood from many addresses
    cannot make each handshake scan the table)."""

    def __init__(
        self, rate_per_s: float, burst: int, *, max_addresses: int = MAX_TRACKED_ADDRESSES
    ) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._max = max_addresses
        self._sweep_at = max_addresses
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, address: str, now: float) -> Rejection | None:
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[address] = TokenBucket(self._rate, self._burst, updated=now)
        retry_after = bucket.take(now)
        return None if retry_after is None else handshake_rate(retry_after)

    def _sweep(self, now: float) -> None:
        for known, old in list(self._buckets.items()):
            if old.full(now):
                del self._buckets[known]
        self._sweep_at = max(self._max, 2 * len(self._buckets))


class InProgress:
    """Handshakes in progress per address: at most ``limit`` each, so that
    sockets that trickle their request from one address hold a bounded share
    of the server's file descriptors and handshake tasks."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._held)

    def enter(self, key: str) -> bool:
        """Count one more for ``key``; False (and nothing counted) at the limit."""
        held = self._held.get(key, 0)
        if held >= self._limit:
            return False
        self._held[key] = held + 1
        return True

    def leave(self, key: str) -> None:
        held = self._held[key] - 1
        if held:
            self._held[key] = held
        else:
            del self._held[key]


class HandshakeGate:
    """The checks of a handshake before its token, by client address.

    ``in_progress_key`` is what a new socket counts under in
    :class:`InProgress`: its peer's address (its /64 for IPv6), or None for a
    trusted proxy, which holds the slow clients itself and speaks for many.
    ``client_address`` is the address the logs show and the rate counts."""

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        trusted_proxies: TrustedProxies,
        origins: OriginPolicy,
    ) -> None:
        self._rate = HandshakeLimiter(rate_per_s, burst)
        self._proxies = trusted_proxies
        self._origins = origins

    def in_progress_key(self, peer: str) -> str | None:
        return None if self._proxies.trusts(peer) else limit_key(peer)

    def client_address(self, peer: str, headers: Headers) -> str:
        return self._proxies.client_address(peer, headers)

    def screen(
        self, target: Target, headers: Headers, client: str, *, accepting: bool, now: float
    ) -> Rejection | None:
        """The path, the server accepting, the client's handshake rate (every
        upgrade request to the endpoint counts), then the ``Origin``."""
        refused = check_request(target, accepting) or self._rate.take(limit_key(client), now)
        if refused is not None:
            return refused
        if not self._origins.allows(headers):
            return ORIGIN_FORBIDDEN
        return None
