"""One user's hub: a nursery that owns all of that user's connections and
agent runs, and the only path by which frames reach them.

Agent events arrive from the deliverer (``deliver``, then ``flush`` once per
delivered batch); replies to other connections of the user (typing notices)
through ``fan_out``; notices from the user's hubs on other processes of a
cluster (frames for these connections, stop requests for runs here) through
``notice``.

A UserHub lives while it holds at least one lease (an admitted handshake, a
live connection, a run). The connection limit counts connections and
handshakes in progress only: a run holds the hub open, never a connection
slot. Admission is synchronous, so concurrent handshakes of one user can
never pass the connection limit. When the last lease goes,
the hub removes itself from the Hub's map in the same step and its nursery
ends; an evicted hub is removed at once, and a new handshake gets a new hub.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import trio

from netra_trio.backplane.notices import FanOut, Notice
from netra_trio.core.limits import Admission, TokenBucket, admit_connection
from netra_trio.errors import CloseCode
from netra_trio.logs import log_event
from netra_trio.server.connection import Connection
from netra_trio.server.runs import RunManager
from netra_trio.server.scheduler import OutboundFrame, event_frame
from netra_trio.server.services import Services
from netra_trio.server.stats import ServerStats
from netra_trio.storage.records import StoredEvent

T = TypeVar("T")


class HubClosed(Exception):
    pass


class HubLink(Protocol):
    """What a user's hub needs of the Hub that made it."""

    @property
    def accepting(self) -> bool: ...

    @property
    def stats(self) -> ServerStats: ...

    def forget(self, user_hub: UserHub) -> None:
        """Remove ``user_hub`` from the map (if it is still the one there)."""
        ...


class UserHub:
    def __init__(self, user_id: str, hub: HubLink, services: Services) -> None:
        self.user_id = user_id
        self._hub = hub
        self.services = services
        self._config = config = services.config
        self._connections: dict[str, Connection] = {}
        self._leases = 0  # handshakes admitted, connections, runs
        self._handshakes = 0  # admitted, not yet a connection (or given back)
        self._nursery: trio.Nursery | None = None
        self._ready = trio.Event()
        self._empty = trio.Event()
        self._evicted = False
        # set once the Hub's subscription to the user's events has been made
        # or has failed (then the hub is abandoned): handshakes wait for it
        self.subscribed = trio.Event()
        self.runs = RunManager(self, services)
        self.message_bucket = TokenBucket(
            config.message_rate_per_s, config.message_burst, updated=trio.current_time()
        )

    @property
    def connections(self) -> tuple[Connection, ...]:
        return tuple(self._connections.values())

    @property
    def leases(self) -> int:
        return self._leases

    @property
    def alive(self) -> bool:
        return not self._evicted and not self._empty.is_set()

    def try_admit(self) -> Admission:
        """Reserve a connection slot for a handshake, or say why not.
        Synchronous on purpose. The slot is the connection's once :meth:`serve`
        starts it; otherwise :meth:`release_handshake` gives it back."""
        held = len(self._connections) + self._handshakes
        decision = admit_connection(held, self._config.max_connections_per_user)
        if decision is Admission.ADMIT:
            self._handshakes += 1
            self._leases += 1
        return decision

    def release_handshake(self) -> None:
        """Give back the slot of an admitted handshake that opened no connection."""
        self._handshakes -= 1
        self.release()

    def release(self) -> None:
        self._leases -= 1
        if self._leases == 0:
            self._hub.forget(self)
            self._empty.set()

    def abandon(self) -> None:
        """End a hub whose user's subscription failed (it holds no lease:
        handshakes take one only once the subscription is made)."""
        self._hub.forget(self)
        self._empty.set()

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._ready.set()
                await self._empty.wait()
        finally:
            self._hub.forget(self)
            self._ready.set()

    async def serve(self, connection: Connection) -> None:
        """Start an admitted connection in this hub's nursery and return; from
        then on the connection owns its socket.

        Takes over the slot that ``try_admit`` reserved: the connection gives
        it back when it ends, or this method does if it never starts."""
        try:
            await self._ready.wait()
        except BaseException:
            self.release_handshake()
            raise
        if (
            self._nursery is None
            or self._evicted
            or self._empty.is_set()
            or not self._hub.accepting  # shutdown began during the handshake
        ):
            self.release_handshake()
            raise HubClosed(self.user_id)
        self._handshakes -= 1  # (its lease is the connection's now)
        self._connections[connection.connection_id] = connection
        self._nursery.start_soon(connection.run)

    def start_task(self, fn: Callable[[T], Awaitable[None]], arg: T) -> bool:
        """Run ``fn(arg)`` in this hub's nursery under a lease of its own;
        False (nothing started) when the hub is closing."""
        if self._nursery is None or not self.alive:
            return False
        self._leases += 1

        async def leased() -> None:
            try:
                await fn(arg)
            finally:
                self.release()

        self._nursery.start_soon(leased)
        return True

    def connection_ended(self, connection: Connection) -> None:
        if self._connections.pop(connection.connection_id, None) is not None:
            self.services.coordinator.release_connection(self.user_id, connection.connection_id)
            self.release()

    def fan_out(self, frame: OutboundFrame, *, exclude: object | None = None) -> None:
        for connection in tuple(self._connections.values()):
            if connection is not exclude:
                connection.enqueue(frame)

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Committed agent events of this user, in seq order, queued on every
        connection (each frame made once, shared by all of them); the writers
        are not woken: :meth:`flush` follows."""
        user_id = self.user_id
        frames = [
            event_frame(user_id, event.frame, event.seq, event.type, event.created_at)
            for event in events
        ]
        for connection in tuple(self._connections.values()):
            connection.queue_events(frames)

    def flush(self) -> None:
        for connection in tuple(self._connections.values()):
            connection.flush()

    def notice(self, notice: Notice) -> None:
        if isinstance(notice, FanOut):
            self.fan_out(
                OutboundFrame(self.user_id, notice.text, notice.priority, notice.coalesce_key)
            )
        elif self.runs.stop(notice.run_id):
            log_event("run_stop_requested", user=self.user_id, run=notice.run_id, via="cluster")

    def check_backlog(self) -> None:
        total = sum(c.outbound.queued_bytes for c in self._connections.values())
        if total > self._config.user_backlog_max_bytes:
            self.evict(f"user backlog of {total} bytes over its bound")

    def evict(self, reason: str) -> None:
        """Emergency cleanup: close every connection with 4009 and cancel the hub."""
        if self._evicted:
            return
        self._evicted = True
        self._hub.stats.evictions += 1
        log_event(
            "emergency_cleanup",
            logging.WARNING,
            user=self.user_id,
            reason=reason,
            connections=len(self._connections),
        )
        self._hub.forget(self)
        for connection in tuple(self._connections.values()):
            connection.close(CloseCode.EVICTED, reason)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def close_all(self, code: int, reason: str) -> None:
        for connection in tuple(self._connections.values()):
            connection.close(code, reason, drain=True)
