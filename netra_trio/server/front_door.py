"""A new socket's way to the hub's decision, up to the token.

- The cap on handshakes in progress per address (``--max-handshakes-per-address``):
  a socket over it gets 429 at once, before anything is read, so sockets that
  trickle their request from one address cannot hold every descriptor.
- The first request: a plain HTTP request is answered here (``/healthz``,
  ``/readyz``, the web page unless ``--no-web-ui``; wsproto's refusal on the
  WebSocket path), bounded by the handshake timeout like an upgrade.
- The client's address: the peer's, or behind a trusted proxy the forwarded
  one (``core/client_address.py``); the logs show it as ``remote``.
- The gate's checks (``core/handshake.py``): the path, the server accepting,
  the address's handshake rate, the ``Origin``.

Every refusal of a handshake is counted and logged here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
import trio

from netra_trio.config import Config
from netra_trio.core.client_address import TrustedProxies
from netra_trio.core.handshake import (
    TOO_MANY_IN_PROGRESS,
    WS_PATH,
    HandshakeGate,
    InProgress,
    Rejection,
    Target,
    parse_target,
)
from netra_trio.core.origins import OriginPolicy
from netra_trio.logs import log_event
from netra_trio.server.http_routes import HttpRoutes
from netra_trio.server.readiness import Readiness
from netra_trio.server.stats import ServerStats
from netra_trio.server.transport import send_quietly
from netra_trio.server.upgrade import Handshake, PlainRequest, read_request, unread_refusal
from netra_trio.server.web_page import load_web_page


@attrs.frozen
class Arrival:
    """An upgrade request read, with what the gate made of it."""

    request: Handshake
    target: Target
    remote: str  # the client's address for the logs (the peer's with its port)
    refusal: Rejection | None  # the gate's; None: on to the token


class FrontDoor:
    def __init__(
        self,
        config: Config,
        readiness: Readiness,
        accepting: Callable[[], bool],
        stats: ServerStats,
    ) -> None:
        self._config = config
        self._accepting = accepting
        self._stats = stats
        self._gate = HandshakeGate(
            rate_per_s=config.handshake_rate_per_s,
            burst=config.handshake_burst,
            trusted_proxies=TrustedProxies(config.trusted_proxies or ()),
            origins=OriginPolicy(config.allowed_origins),
        )
        self._in_progress = InProgress(config.max_handshakes_per_address)
        self._http = HttpRoutes(
            readiness, lambda: {"status": "ok" if accepting() else "shutting_down"}
        )
        self._web = load_web_page() if config.web_ui else None  # (read once per process)

    @contextmanager
    def entry(self, peer: str) -> Iterator[bool]:
        """A slot among the handshakes in progress of ``peer``'s address for
        the ``with`` block; False when there is none (a trusted proxy always
        has one)."""
        key = self._gate.in_progress_key(peer_host(peer))
        if key is None:
            yield True
            return
        if not self._in_progress.enter(key):
            yield False
            return
        try:
            yield True
        finally:
            self._in_progress.leave(key)

    async def refuse_unread(self, stream: trio.abc.Stream, peer: str) -> None:
        refusal = TOO_MANY_IN_PROGRESS
        self.rejected(refusal, peer)
        reply = unread_refusal(refusal.status, refusal.headers(), refusal.body())
        with trio.move_on_after(self._config.close_timeout_s):
            await send_quietly(stream, reply)

    async def arrive(self, stream: trio.abc.Stream, peer: str) -> Arrival | None:
        """The upgrade request, screened; None when there is none to decide:
        nothing complete in time, not HTTP, or a plain request (answered)."""
        request: Handshake | PlainRequest | None = None
        with trio.move_on_after(self._config.handshake_timeout_s):
            request = await read_request(stream)
            if isinstance(request, PlainRequest):
                await self._answer_plain(request)
        if not isinstance(request, Handshake):
            return None
        host = peer_host(peer)
        client = self._gate.client_address(host, request.headers)
        target = parse_target(request.path)
        refusal = self._gate.screen(
            target, request.headers, client, accepting=self._accepting(), now=trio.current_time()
        )
        return Arrival(request, target, peer if client == host else client, refusal)

    async def refuse(self, arrival: Arrival, rejection: Rejection) -> None:
        self.rejected(rejection, arrival.remote)
        with trio.move_on_after(self._config.close_timeout_s):
            await arrival.request.reject(rejection.status, rejection.headers(), rejection.body())

    def rejected(self, rejection: Rejection, remote: str) -> None:
        self._stats.record_handshake_refusal(rejection.status, str(rejection.code))
        log_event(
            "handshake_rejected",
            status=rejection.status,
            code=str(rejection.code),
            reason=rejection.message,
            remote=remote,
        )

    async def _answer_plain(self, request: PlainRequest) -> None:
        path = parse_target(request.target.decode("latin-1")).path
        if path == WS_PATH:
            status, reason = request.not_an_upgrade
            headers = [(b"Content-Type", b"text/plain"), (b"Connection", b"close")]
            await request.respond(status, headers, f"{reason}\n".encode())
            return
        if self._web is not None and self._web.serves(path):
            answer = self._web.answer(request.method, path, request.headers)
        else:
            answer = await self._http.answer(request.method, request.target)
        await request.respond(answer.status, answer.headers(), answer.body)


def peer_host(peer: str) -> str:
    """The address of ``host:port`` or ``[v6]:port``; anything else as it is."""
    if peer.startswith("["):
        return peer[1:].split("]", 1)[0]
    return peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer
