"""The plain HTTP answers, the same on the main port and on the metrics port:

- ``GET /healthz``: 200 while the process runs, ``{"status": "ok"}`` (or
  ``"shutting_down"``); the metrics port adds the live counts of users and
  connections;
- ``GET /readyz``: 200 ``{"status": "ready", "waiting_for": []}`` when the
  server accepts handshakes and its storage (and Redis) answer; otherwise 503
  ``{"status": "not_ready", "waiting_for": [...]}`` with ``Retry-After``;
- ``GET /metrics``: only where a ``metrics`` source is given (the metrics
  port), so the public port never shows it.

HEAD is answered as GET, without the body; other methods get 405, other paths
404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from netra_trio.server.readiness import Readiness

JSON = b"application/json"
READY_RETRY_AFTER_S = 1


@attrs.frozen
class Answer:
    status: int
    body: bytes
    content_type: bytes = JSON
    retry_after_s: int | None = None
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"Content-Type", self.content_type), (b"Connection", b"close")]
        if self.retry_after_s is not None:
            headers.append((b"Retry-After", str(self.retry_after_s).encode()))
        return headers + list(self.extra_headers)


def _json(status: int, body: object, retry_after_s: int | None = None) -> Answer:
    return Answer(status, orjson.dumps(body), retry_after_s=retry_after_s)


NOT_FOUND = _json(404, {"error": "not found"})
METHOD_NOT_ALLOWED = _json(405, {"error": "only GET is served"})


class HttpRoutes:
    """``health`` gives the ``/healthz`` body; ``metrics`` (the metrics port
    only) the Prometheus text."""

    def __init__(
        self,
        readiness: Readiness,
        health: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self._readiness = readiness
        self._health = health
        self._metrics = metrics

    def serves(self, target: bytes) -> bool:
        return _path(target) in (b"/healthz", b"/readyz") or (
            self._metrics is not None and _path(target) == b"/metrics"
        )

    async def answer(self, method: bytes, target: bytes) -> Answer:
        path = _path(target)
        if not self.serves(target):
            return NOT_FOUND
        if method not in (b"GET", b"HEAD"):
            return METHOD_NOT_ALLOWED
        if path == b"/healthz":
            return _json(200, self._health())
        if path == b"/readyz":
            waiting_for = await self._readiness.waiting_for()
            if waiting_for:
                body = {"status": "not_ready", "waiting_for": waiting_for}
                return _json(503, body, READY_RETRY_AFTER_S)
            return _json(200, {"status": "ready", "waiting_for": []})
        assert self._metrics is not None
        return Answer(200, self._metrics(), CONTENT_TYPE_LATEST.encode())


def _path(target: bytes) -> bytes:
    return target.split(b"?", 1)[0]
