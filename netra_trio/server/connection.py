"""One WebSocket connection: its nursery of reader, writer and heartbeat, and its closing.

Its outbound side (scheduler, writer, flushes) is ``outbound.py``; ``resume``
and the live events held around it are ``replay.py``; what handlers see of it
is ``handler_context.py``, which the reader makes when it starts; its state
changes only through ``core/states.py``.

The reader handles the client's WebSocket control frames too: a ping or an
unsolicited pong spends one message of the user's budget, like a text frame
(a ping over it gets no pong), so a control-frame flood meets the same
RATE_LIMITED warnings and 1008 close; the pong that answers the heartbeat's
ping is free.

All of the connection's endings are cancellation. The tasks run in one cancel
scope whose deadline is the earlier of the idle deadline (moved forward as
client frames arrive) and the token's expiry (moved by a ``refresh``, to the
new token's); a lost heartbeat, a slow
consumer, an eviction or a shutdown cancel that scope with a close code. A
draining close (shutdown, violations, oversized frames) stops the reader and
lets the writer flush what is queued, within ``close_timeout_s``.

(Longer than most modules: the reader and the closing share
the connection's scope and lifecycle, and read best side by side.)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import trio
from wsproto.events import Pong

from netra_trio.core.limits import utf8_length_exceeds
from netra_trio.core.states import ConnectionLifecycle, ConnEvent, ConnState
from netra_trio.errors import CloseCode, ErrorCode, ProtocolError
from netra_trio.handlers.router import Router
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode_payload
from netra_trio.protocol.server_messages import ConnectionEstablished, Limits
from netra_trio.server.handler_context import ConnectionContext, UserHubView
from netra_trio.server.heartbeat import Heartbeat
from netra_trio.server.outbound import WRITE_BYTES, Outbound, WriterStalled
from netra_trio.server.replay import INITIAL_HOLD_S, Replay
from netra_trio.server.scheduler import OutboundFrame
from netra_trio.server.stats import ServerStats, utf8_size
from netra_trio.server.transport import ControlFrame, TransportClosed, WebSocketTransport
from netra_trio.storage.base import StorageError


class UserHubLink(UserHubView, Protocol):
    """What a connection needs of its user's hub."""

    @property
    def user_id(self) -> str: ...

    def check_backlog(self) -> None:
        """Evict the user when its connections' queues together pass their bound."""
        ...

    def connection_ended(self, connection: Connection) -> None: ...


_OPEN = ConnState.OPEN  # compared per frame: an enum member lookup costs ~100 ns
_DRAINING = ConnState.DRAINING


class Connection:
    __slots__ = (
        "_heartbeat",
        "_id",
        "_last_activity",
        "_lifecycle",
        "_reader_scope",
        "_remote",
        "_replay",
        "_router",
        "_services",
        "_stats",
        "_tasks_scope",
        "_token_deadline",
        "_token_expires_at",
        "_user_id",
        "_ws",
        "outbound",
        "session_id",
        "user_hub",
    )

    def __init__(
        self,
        *,
        connection_id: str,
        session_id: str,
        resumed: bool,
        user_hub: UserHubLink,
        ws: WebSocketTransport,
        token_expires_at: float,
        batch_mode: bool,
        router: Router,
        stats: ServerStats,
        remote: str,
    ) -> None:
        self._id = connection_id
        self.session_id = session_id
        self.user_hub = user_hub
        self._user_id = user_hub.user_id
        self._ws = ws
        self._token_expires_at = token_expires_at
        self._services = services = user_hub.services
        config = services.config
        self._router = router
        self._stats = stats
        self._remote = remote
        self._lifecycle = ConnectionLifecycle()
        self.outbound = Outbound(
            ws,
            services.queue_bounds,
            user_id=self._user_id,
            connection_id=connection_id,
            batch_mode=batch_mode,
            stall_timeout_s=config.writer_stall_timeout_s,
            stats=stats,
        )
        self._replay = Replay(
            user_hub.services.storage.events,
            self._user_id,
            hold=services.hold_bounds,
        )
        self._tasks_scope = trio.CancelScope()
        self._reader_scope = trio.CancelScope()
        self._heartbeat = Heartbeat(ws, services.heartbeat)
        self._token_deadline = math.inf
        self._last_activity = 0.0
        # First in the queue before the connection can receive anything else.
        text, priority = encode_payload(self._established(resumed))
        self.enqueue(OutboundFrame(self._user_id, text, priority))

    # -- identity and state ------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def connection_id(self) -> str:
        return self._id

    @property
    def is_open(self) -> bool:
        return self._lifecycle.state is _OPEN

    async def replay(self, last_seq: int) -> tuple[int, bool]:
        return await self._replay.replay(last_seq, self)

    def renew_token(self, expires_at: float) -> None:
        """The connection now expires with a token that expires at
        ``expires_at`` (Unix seconds), earlier or later than its old one."""
        now = trio.current_time()
        self._token_expires_at = expires_at
        self._token_deadline = now + (expires_at - time.time())
        if self._lifecycle.state is _OPEN:
            self._tasks_scope.deadline = self._services.expiry.deadline(
                self._last_activity, self._token_deadline
            )

    # -- frames in (from the user's hub and from handlers) --------------------------

    def enqueue(self, frame: OutboundFrame) -> None:
        """Queue one frame (a reply, an error, a notice) and wake the writer."""
        self.push((frame,))

    def queue_events(self, frames: Sequence[OutboundFrame]) -> None:
        """Queue live agent events without waking the writer (a :meth:`flush`
        follows), or hold them around a replay."""
        if self._lifecycle.state is not _OPEN:
            return
        replay = self._replay
        if replay.holding:
            for i, frame in enumerate(frames):
                released = replay.hold(frame)
                if released is not None:  # the hold is over: these, then the rest
                    self.push(released)
                    self.push(frames[i + 1 :], wake=False)
                    return
            return
        self.push(frames, wake=False)

    def push(self, frames: Iterable[OutboundFrame], *, wake: bool = True) -> None:
        """Queue ``frames`` in order while the connection is open (a slow
        consumer is closed with 4008)."""
        if self._lifecycle.state is not _OPEN:
            return
        if not self.outbound.push(frames, wake=wake):
            self.close(CloseCode.SLOW_CONSUMER, "outbound backlog over its bound")
            return
        if self.outbound.queued_bytes > self._services.backlog_check_bytes:
            self.user_hub.check_backlog()

    def flush(self) -> None:
        """Write what is queued now when the writer is idle (see ``outbound.py``)."""
        if self._lifecycle.state is _OPEN:
            try:
                self.outbound.flush()
            except TransportClosed as exc:
                self._on_transport_closed(exc)

    async def wait_for_room(self, frames: int, nbytes: int) -> None:
        await self.outbound.scheduler.wait_below(frames, nbytes)

    # -- closing --------------------------------------------------------------------

    def close(self, code: int, reason: str, *, drain: bool = False, by_peer: bool = False) -> None:
        """Ask the connection to end with ``code``. The first code wins; a later
        immediate close may cut a drain short."""
        if not self._lifecycle.close(code, reason, drain=drain, by_peer=by_peer):
            return
        deadline = trio.current_time() + self._services.config.close_timeout_s
        self.outbound.closing(deadline)
        if self._lifecycle.state is _DRAINING:
            self.outbound.scheduler.close()
            self._reader_scope.cancel()
            self._tasks_scope.deadline = min(self._tasks_scope.deadline, deadline)
        else:
            self._tasks_scope.cancel()

    def _on_transport_closed(self, exc: TransportClosed) -> None:
        if exc.by_peer:
            self.close(exc.code, exc.reason or "closed by client", by_peer=True)
        else:  # a frame the transport refused (too big, malformed)
            self.close(exc.code, exc.reason)

    # -- the nursery ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        now = trio.current_time()
        self._last_activity = now
        self._token_deadline = now + (self._token_expires_at - time.time())
        self._tasks_scope.deadline = self._services.expiry.deadline(now, self._token_deadline)
        task_status.started()
        self._stats.connections_opened += 1
        log_event(
            "connect",
            user=self._user_id,
            connection=self._id,
            remote=self._remote,
            batch=self.outbound.batch_mode,
        )
        try:
            with self._tasks_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer)
                    nursery.start_soon(self._beat)
                    nursery.start_soon(self._end_initial_hold)
                    await self._reader()  # in this task: one task fewer per connection
        except Exception:
            log_event(
                "connection_error",
                logging.ERROR,
                user=self._user_id,
                connection=self._id,
                exc_info=True,
            )
            self._lifecycle.fail()
        finally:
            await self._end()

    async def _end(self) -> None:
        self._ws.reset_callbacks()
        lifecycle = self._lifecycle
        expiry = self._services.expiry
        code = lifecycle.ended_by(
            expiry.reason(trio.current_time(), self._last_activity, self._token_deadline)
        )
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._services.config.close_timeout_s):
                if await self.outbound.finish():
                    await self._ws.close(code, lifecycle.close_reason[:120])
            await trio.aclose_forcefully(self._ws.stream)
        lifecycle.process(ConnEvent.ENDED)
        dropped = self.outbound.scheduler.discard()
        self._stats.record_close(code)
        log_event(
            "disconnect",
            user=self._user_id,
            connection=self._id,
            code=code,
            reason=lifecycle.close_reason,
            by="client" if lifecycle.by_peer else "server",
            undelivered=dropped,
        )
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(self._services.config.close_timeout_s),
        ):
            try:
                await self.user_hub.services.sessions.detach(self.session_id)
            except StorageError as exc:
                log_event("storage_error", logging.ERROR, user=self._user_id, error=str(exc))
        self.user_hub.connection_ended(self)

    def _established(self, resumed: bool) -> ConnectionEstablished:
        config = self._services.config
        return ConnectionEstablished(
            connection_id=self._id,
            session_id=self.session_id,
            user_id=self._user_id,
            resumed=resumed,
            server_time=time.time(),
            heartbeat_interval_s=config.heartbeat_interval_s,
            limits=Limits(
                max_connections_per_user=config.max_connections_per_user,
                max_message_bytes=config.max_message_bytes,
                idle_timeout_s=config.idle_timeout_s,
            ),
        )

    # -- tasks ----------------------------------------------------------------------

    async def _end_initial_hold(self) -> None:
        await trio.sleep(INITIAL_HOLD_S)
        self.push(self._replay.end_initial_hold())

    async def _reader(self) -> None:
        max_bytes = self._services.config.max_message_bytes
        replay = self._replay
        stats = self._stats
        context = ConnectionContext(self, stats)
        with self._reader_scope:
            while True:
                try:
                    message = await self._ws.receive()
                except TransportClosed as exc:
                    self._on_transport_closed(exc)
                    return
                if not isinstance(message, str):
                    if isinstance(message, bytes):
                        self._touch()
                        stats.received("binary", len(message))
                        if not await context.rate_limit(1):
                            context.send_error(
                                ProtocolError(
                                    ErrorCode.INVALID_MESSAGE,
                                    "frame: binary frames are not accepted; send JSON text",
                                )
                            )
                    else:
                        self._control_frame(context, message)
                    if self._lifecycle.state is not _OPEN:
                        return
                    continue
                self._touch()
                if utf8_length_exceeds(message, max_bytes):
                    self.close(
                        CloseCode.MESSAGE_TOO_BIG, f"frame over {max_bytes} bytes", drain=True
                    )
                    return
                kind = await self._router.handle_text(context, message)
                stats.received(kind, utf8_size(message))
                if replay.holding:
                    self.push(replay.end_initial_hold())
                if self._lifecycle.state is not _OPEN:
                    return

    def _touch(self) -> None:
        now = trio.current_time()
        self._last_activity = now
        if self._lifecycle.state is _OPEN:
            expiry = self._services.expiry
            moved = expiry.extended(self._tasks_scope.deadline, now, self._token_deadline)
            if moved is not None:
                self._tasks_scope.deadline = moved

    async def _writer(self) -> None:
        outbound = self.outbound
        try:
            while True:
                try:
                    # no local keeps the last write alive while the writer waits
                    await outbound.write(await outbound.scheduler.receive_some(WRITE_BYTES))
                except trio.EndOfChannel:
                    return
        except TransportClosed as exc:
            self._on_transport_closed(exc)
        except WriterStalled:
            if self._lifecycle.state is _OPEN:
                self._stats.evictions += 1
                log_event(
                    "emergency_cleanup",
                    logging.WARNING,
                    user=self._user_id,
                    connection=self._id,
                    reason="writer stalled",
                )
                self.close(CloseCode.EVICTED, "writer stalled past its deadline")
        finally:
            self._tasks_scope.cancel()

    def _control_frame(self, context: ConnectionContext, frame: ControlFrame) -> None:
        """A ping or pong from the client: the pong that answers the
        heartbeat's ping is free; any other one, and every ping, spends the
        user's message budget, and a ping is answered only within it."""
        stats, size = self._stats, len(frame.payload)
        if isinstance(frame, Pong):
            stats.received("websocket_pong", size)
            if self._heartbeat.answered_by(frame):
                return
            context.spend_control_frame("pong")
            return
        stats.received("websocket_ping", size)
        if context.spend_control_frame("ping"):
            self._ws.answer(frame)

    async def _beat(self) -> None:
        # stops when the connection is no longer open, or when the writer's end
        # cancels the connection
        if await self._heartbeat.until_lost(lambda: self._lifecycle.state is _OPEN):
            self._stats.heartbeats_lost += 1
            self.close(CloseCode.HEARTBEAT_LOST, "no pong in time")
