"""The server's heartbeat on one connection: a WebSocket ping every
``heartbeat_interval_s``, each with a fresh payload, and the pong it waits for
(``core/heartbeat.py`` decides when). Only the pong that answers the ping in
flight counts; any other pong is the client's own (and spends its rate).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import trio
from wsproto.events import Pong

from netra_trio.core.heartbeat import HeartbeatPolicy
from netra_trio.server.transport import WebSocketTransport


class Heartbeat:
    __slots__ = ("_payload", "_policy", "_pong", "_ws")

    def __init__(self, ws: WebSocketTransport, policy: HeartbeatPolicy) -> None:
        self._ws = ws
        self._policy = policy
        self._payload = b""
        self._pong: trio.Event | None = None

    def answered_by(self, pong: Pong) -> bool:
        """Whether ``pong`` answers the ping in flight (which it then ends)."""
        if self._pong is None or pong.payload != self._payload:
            return False
        self._pong.set()
        self._pong = None
        return True

    async def until_lost(self, still_open: Callable[[], bool]) -> bool:
        """Ping and wait for each pong, for as long as ``still_open()``: True
        when a pong did not come in time, False once the connection is no
        longer open (no cancel scope of its own: a draining connection's
        heartbeat stops at its next wake-up)."""
        policy = self._policy
        last = trio.current_time()
        while True:
            await trio.sleep_until(policy.next_ping_at(last))
            if not still_open():
                return False
            last = trio.current_time()
            self._pong = pong = trio.Event()
            self._payload = payload = os.urandom(4)
            self._ws.ping(payload)
            with trio.move_on_at(policy.pong_deadline(last)):
                await pong.wait()
                continue
            return still_open()
