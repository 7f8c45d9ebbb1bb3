"""One WebSocket connection: its nursery of reader, writer and heartbeat tasks.

All of the connection's endings are cancellation. The tasks run in one cancel
scope whose deadline is the earlier of the idle deadline (moved forward as
client frames arrive) and the token's expiry; a lost heartbeat, a slow
consumer, an eviction or a shutdown cancel that scope with a close code. A
"draining" close (shutdown, violations, oversized frames) stops the reader and
lets the writer flush what is queued, within ``close_timeout_s``.

The writer is the only task that writes to the socket: it takes what is queued
(control frames first, then data frames in priority order, up to
``_WRITE_BYTES``) and sends it in one write. Each write runs shielded under its
own deadline (``writer_stall_timeout_s``), so cancellation never cuts a frame
in half; a write that cannot finish by then is an emergency (4009) and the
socket is dropped without a close frame.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any

import trio

from netra_trio.core.expiry import ExpiryPolicy
from netra_trio.core.heartbeat import HeartbeatPolicy
from netra_trio.core.limits import (
    AbuseCounter,
    ViolationAction,
    ViolationCounter,
    utf8_length_exceeds,
)
from netra_trio.core.priority import Priority, PushResult
from netra_trio.core.routing import frame_allowed
from netra_trio.core.states import ConnState, transition
from netra_trio.errors import CloseCode, ErrorCode, ProtocolError
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode, encode_batch, encode_error, encode_payload
from netra_trio.protocol.server_messages import ConnectionEstablished, Limits
from netra_trio.server.scheduler import FrameScheduler, OutboundFrame
from netra_trio.server.transport import TransportClosed, WebSocketTransport, text_frames
from netra_trio.storage.base import StorageError

if TYPE_CHECKING:
    from netra_trio.config import Config
    from netra_trio.handlers.router import Router
    from netra_trio.server.runs import RunManager
    from netra_trio.server.services import Services
    from netra_trio.server.stats import ServerStats
    from netra_trio.server.user_hub import UserHub


_ABUSE_WINDOW_S = 10.0
_REPLAY_PAGE = 500
_INITIAL_HOLD_S = 1.0
_WRITE_BYTES = 65536
# enum members used per frame (a member lookup on the class costs ~100 ns)
_OPEN = ConnState.OPEN
_QUEUED = PushResult.QUEUED
_CRITICAL = Priority.CRITICAL


class Connection:
    __slots__ = (
        "_abuse",
        "_close_code",
        "_close_reason",
        "_config",
        "_delivery",
        "_expiry",
        "_heartbeat_policy",
        "_held",
        "_held_bytes",
        "_held_dropped",
        "_id",
        "_initial_hold",
        "_last_activity",
        "_peer_closed",
        "_ping_payload",
        "_pong",
        "_reader_scope",
        "_remote",
        "_resumed",
        "_router",
        "_send_scope",
        "_state",
        "_stats",
        "_stream_broken",
        "_tasks_scope",
        "_token_deadline",
        "_token_expires_at",
        "_unsent",
        "_user_id",
        "_violations",
        "_ws",
        "batch_mode",
        "fence_refused",
        "scheduler",
        "session_id",
        "user_hub",
    )

    def __init__(
        self,
        *,
        connection_id: str,
        session_id: str,
        resumed: bool,
        user_hub: UserHub,
        ws: WebSocketTransport,
        token_expires_at: float,
        batch_mode: bool,
        config: Config,
        router: Router,
        stats: ServerStats,
        remote: str,
    ) -> None:
        self._id = connection_id
        self.session_id = session_id
        self._resumed = resumed
        self.user_hub = user_hub
        self._user_id = user_hub.user_id
        self._ws = ws
        self._token_expires_at = token_expires_at
        self.batch_mode = batch_mode
        self._config = config
        self._router = router
        self._stats = stats
        self._remote = remote
        self.scheduler = FrameScheduler(user_hub.queue_bounds)
        self._delivery = user_hub.services.event_log.delivery
        self._unsent: bytes | memoryview | None = None  # what a flush's write left over
        self._expiry = ExpiryPolicy(config.idle_timeout_s)
        self._heartbeat_policy = HeartbeatPolicy(
            config.heartbeat_interval_s, config.heartbeat_timeout_s
        )
        self._violations = ViolationCounter(config.max_violations)
        self._abuse = AbuseCounter(config.abuse_limit, _ABUSE_WINDOW_S)
        # Live events are held back while a replay runs, and at first (until the
        # client's first frame, at most _INITIAL_HOLD_S) so that a resume sent
        # right after connecting replays them in order, exactly once.
        self._held: list[OutboundFrame] | None = []
        self._initial_hold = True
        self._held_dropped = False
        self._held_bytes = 0
        self._state = ConnState.OPEN
        self._close_code: int | None = None
        self._close_reason = ""
        self._peer_closed = False
        self._stream_broken = False
        self._tasks_scope = trio.CancelScope()
        self._reader_scope = trio.CancelScope()
        self._send_scope: trio.CancelScope | None = None
        self._ping_payload = b""
        self._pong: trio.Event | None = None
        self._token_deadline = math.inf
        self._last_activity = 0.0
        self.fence_refused = 0
        # First in the queue before the connection can receive anything else.
        self.reply(self._established())

    # -- identity and state ------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def connection_id(self) -> str:
        return self._id

    @property
    def services(self) -> Services:
        return self.user_hub.services

    @property
    def runs(self) -> RunManager:
        return self.user_hub.runs

    @property
    def is_open(self) -> bool:
        return self._state is ConnState.OPEN

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def close_code(self) -> int | None:
        return self._close_code

    # -- outbound (HandlerContext) ------------------------------------------------

    def enqueue(self, frame: OutboundFrame) -> None:
        if self._state is not _OPEN:
            return
        if self._held is not None and frame.seq is not None:
            # held frames stay within half of the queue's bounds, so releasing
            # them can never overflow the queue by itself
            if (
                len(self._held) < self._config.queue_max_frames // 2
                and self._held_bytes + len(frame.text) <= self._config.queue_max_bytes // 2
            ):
                self._held.append(frame)
                self._held_bytes += len(frame.text)
                return
            if self._initial_hold:
                self._release_held()  # no resume came in time: deliver as usual
            else:
                # A replay is running: these events are stored, so drop them here
                # and let the replay read them from the log.
                self._held.clear()
                self._held_bytes = 0
                self._held_dropped = True
                return
        self._push((frame,))

    def enqueue_all(self, frames: list[OutboundFrame]) -> None:
        """:meth:`enqueue` each of ``frames``, in order."""
        if self._state is not _OPEN:
            return
        if self._held is not None:
            for frame in frames:
                self.enqueue(frame)
            return
        self._push(frames)

    def _push(self, frames: Iterable[OutboundFrame]) -> None:
        scheduler = self.scheduler
        # inside a delivery round the writer is not woken here: the round's end
        # flushes this connection once (see flush_queued)
        deferred = self._delivery.defer(self)
        for frame in frames:
            result = scheduler.send_nowait(frame, wake=False)
            if result is _QUEUED:
                continue
            if result is PushResult.SHED:
                self._stats.frames_shed += 1
            elif result is PushResult.OVERFLOW:
                self._stats.slow_consumers += 1
                self.close(CloseCode.SLOW_CONSUMER, "outbound backlog over its bound")
                return
        if not deferred:
            scheduler.notify()
        if scheduler.queued_bytes > self.user_hub.backlog_check_bytes:
            self.user_hub.check_backlog()

    def reply(
        self, payload: object, *, correlation_id: str | None = None, thread_id: str | None = None
    ) -> None:
        text, priority = encode_payload(payload, correlation_id=correlation_id, thread_id=thread_id)
        self.enqueue(OutboundFrame(self._user_id, text, priority))

    def reply_raw(
        self,
        kind: str,
        payload: dict[str, Any],
        priority: Priority,
        *,
        correlation_id: str | None = None,
    ) -> None:
        text = encode(kind, payload, correlation_id=correlation_id)
        self.enqueue(OutboundFrame(self._user_id, text, priority))

    def send_error(self, error: ProtocolError) -> None:
        text, priority = encode_error(error)
        self._stats.errors_sent += 1
        log_event(
            "client_error",
            logging.INFO,
            user=self._user_id,
            connection=self._id,
            code=str(error.code),
            message=error.message,
        )
        self.enqueue(OutboundFrame(self._user_id, text, priority))

    def notify_others(self, payload: object, *, coalesce_key: Hashable | None = None) -> None:
        text, priority = encode_payload(payload)
        self.user_hub.fan_out(
            OutboundFrame(self._user_id, text, priority, coalesce_key), exclude=self
        )

    def security_violation(self, reason: str, *, correlation_id: str | None = None) -> None:
        action = self._violations.record()
        self._stats.security_violations += 1
        log_event(
            "security_violation",
            logging.WARNING,
            user=self._user_id,
            connection=self._id,
            reason=reason,
            count=self._violations.count,
        )
        self.send_error(
            ProtocolError(
                ErrorCode.FORBIDDEN,
                "a frame may only act for the connection's own user",
                correlation_id=correlation_id,
            )
        )
        if action is ViolationAction.REFUSE_AND_CLOSE:
            self.close(CloseCode.POLICY_VIOLATION, "repeated security violations", drain=True)

    def rate_limit(self, cost: int, correlation_id: str | None = None) -> bool:
        """Spend ``cost`` messages of the user's budget. When over it, answer
        RATE_LIMITED (with the seconds to wait) and return True; sustained
        refusals close the connection with 1008, after that answer."""
        now = trio.current_time()
        retry_after = self.user_hub.message_bucket.take(now, cost)
        if retry_after is None:
            return False
        self._stats.rate_limited += 1
        self.send_error(
            ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"too many messages; retry in {retry_after:.2f} s",
                correlation_id=correlation_id,
                details={"retry_after_s": round(retry_after, 3)},
            )
        )
        if self._abuse.refused(now):
            log_event(
                "abuse",
                logging.WARNING,
                user=self._user_id,
                connection=self._id,
                reason="message rate exceeded after repeated warnings",
            )
            self.close(CloseCode.POLICY_VIOLATION, "message rate exceeded", drain=True)
        return True

    async def replay(self, last_seq: int) -> tuple[int, bool]:
        """Send every stored event after ``last_seq`` in order, then the live
        events that arrived meanwhile (each exactly once). Returns how many
        stored events were replayed and whether part of the range had left
        retention."""
        storage = self.user_hub.services.storage
        window = await storage.replay_window(self._user_id)
        held: list[OutboundFrame] = self._held if self._held is not None else []
        self._held, self._initial_hold = held, False
        cursor, replayed = last_seq, 0
        half_frames = max(1, self._config.queue_max_frames // 2)
        half_bytes = max(1, self._config.queue_max_bytes // 2)
        try:
            while self._state is ConnState.OPEN:
                self._held_dropped = False
                page = await storage.events_after(self._user_id, cursor, limit=_REPLAY_PAGE)
                if not page:
                    if self._held_dropped:
                        continue  # held events were dropped during the read: read again
                    break
                for event in page:
                    await self.scheduler.wait_below(half_frames, half_bytes)
                    if self._state is not ConnState.OPEN:
                        break
                    self._push(
                        (OutboundFrame(self._user_id, event.frame, _CRITICAL, seq=event.seq),)
                    )
                    cursor, replayed = event.seq, replayed + 1
        finally:
            self._release_held(after=cursor)
        return replayed, last_seq < window.pruned_through

    def _release_held(self, *, after: int | None = None) -> None:
        """Stop holding live events; send the held ones (those after ``after``)."""
        held, self._held, self._initial_hold = self._held, None, False
        self._held_bytes = 0
        self._push(
            frame
            for frame in held or ()
            if after is None or (frame.seq is not None and frame.seq > after)
        )

    async def _end_initial_hold(self) -> None:
        await trio.sleep(_INITIAL_HOLD_S)
        if self._initial_hold:
            self._release_held()

    # -- closing --------------------------------------------------------------------

    def close(self, code: int, reason: str, *, drain: bool = False) -> None:
        """Ask the connection to end with ``code``. The first code wins; a later
        immediate close may cut a drain short."""
        now = trio.current_time()
        if self._state is ConnState.OPEN:
            self._close_code, self._close_reason = int(code), reason
            if drain:
                self._state = transition(self._state, ConnState.DRAINING)
                self.scheduler.close()
                self._reader_scope.cancel()
                self._tasks_scope.deadline = min(
                    self._tasks_scope.deadline, now + self._config.close_timeout_s
                )
                return
        elif self._state is not ConnState.DRAINING or drain:
            return
        self._state = transition(self._state, ConnState.CLOSING)
        self._tasks_scope.cancel()
        if self._send_scope is not None:
            self._send_scope.deadline = min(
                self._send_scope.deadline, now + self._config.close_timeout_s
            )

    # -- the nursery ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        now = trio.current_time()
        self._last_activity = now
        self._token_deadline = now + (self._token_expires_at - time.time())
        self._tasks_scope.deadline = self._expiry.deadline(now, self._token_deadline)
        task_status.started()
        self._stats.connections_opened += 1
        log_event(
            "connect",
            user=self._user_id,
            connection=self._id,
            remote=self._remote,
            batch=self.batch_mode,
        )
        self._ws.on_pong = self._on_pong
        try:
            with self._tasks_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer)
                    nursery.start_soon(self._heartbeat)
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
            if self._close_code is None:
                self._close_code, self._close_reason = CloseCode.INTERNAL_ERROR, "internal error"
        finally:
            self._ws.reset_callbacks()
            code = self._final_code()
            await self._close_transport(code)
            self._state = ConnState.CLOSED
            dropped = self.scheduler.discard()
            self._stats.record_close(code)
            log_event(
                "disconnect",
                user=self._user_id,
                connection=self._id,
                code=code,
                reason=self._close_reason,
                by="client" if self._peer_closed else "server",
                undelivered=dropped,
            )
            with trio.CancelScope(shield=True), trio.move_on_after(self._config.close_timeout_s):
                try:
                    await self.user_hub.services.sessions.detach(self.session_id)
                except StorageError as exc:
                    log_event("storage_error", logging.ERROR, user=self._user_id, error=str(exc))
            self.user_hub.connection_ended(self)

    def _established(self) -> ConnectionEstablished:
        config = self._config
        return ConnectionEstablished(
            connection_id=self._id,
            session_id=self.session_id,
            user_id=self._user_id,
            resumed=self._resumed,
            server_time=time.time(),
            heartbeat_interval_s=config.heartbeat_interval_s,
            limits=Limits(
                max_connections_per_user=config.max_connections_per_user,
                max_message_bytes=config.max_message_bytes,
                idle_timeout_s=config.idle_timeout_s,
            ),
        )

    def _final_code(self) -> int:
        if self._close_code is None:
            expired = self._expiry.reason(
                trio.current_time(), self._last_activity, self._token_deadline
            )
            if expired is CloseCode.POLICY_VIOLATION:
                self._close_code, self._close_reason = expired, "token expired"
            elif expired is CloseCode.SESSION_EXPIRED:
                self._close_code, self._close_reason = expired, "idle timeout"
            else:
                self._close_code, self._close_reason = CloseCode.INTERNAL_ERROR, "cancelled"
        return self._close_code

    async def _close_transport(self, code: int) -> None:
        with trio.CancelScope(shield=True):
            if not self._stream_broken:
                with trio.move_on_after(self._config.close_timeout_s):
                    if await self._finish_unsent():
                        await self._ws.close(code, self._close_reason[:120])
            await trio.aclose_forcefully(self._ws.stream)

    async def _finish_unsent(self) -> bool:
        """Send the rest of a frame that a flush began (a close frame must not cut
        into it). False when the stream broke."""
        unsent, self._unsent = self._unsent, None
        if unsent is None:
            return True
        try:
            await self._ws.send(unsent)
        except TransportClosed:
            return False
        return True

    # -- tasks ----------------------------------------------------------------------

    async def _reader(self) -> None:
        max_bytes = self._config.max_message_bytes
        with self._reader_scope:
            while True:
                try:
                    message = await self._ws.receive()
                except TransportClosed as exc:
                    self._on_transport_closed(exc)
                    return
                self._touch()
                if isinstance(message, bytes):
                    self.send_error(
                        ProtocolError(
                            ErrorCode.INVALID_MESSAGE,
                            "frame: binary frames are not accepted; send JSON text",
                        )
                    )
                    continue
                if utf8_length_exceeds(message, max_bytes):
                    self.close(
                        CloseCode.MESSAGE_TOO_BIG, f"frame over {max_bytes} bytes", drain=True
                    )
                    return
                await self._router.handle_text(self, message)
                if self._initial_hold:
                    self._release_held()  # the first frame was not a resume
                if self._state is not ConnState.OPEN:
                    return

    def _on_transport_closed(self, exc: TransportClosed) -> None:
        if not exc.by_peer:  # a frame the transport refused (too big, malformed)
            self.close(exc.code, exc.reason)
            return
        self._peer_closed = True
        self.close(exc.code, exc.reason or "closed by client")

    def _on_pong(self, payload: bytes) -> None:
        if self._pong is not None and payload == self._ping_payload:
            self._pong.set()
            self._pong = None

    def _touch(self) -> None:
        now = trio.current_time()
        self._last_activity = now
        if self._state is ConnState.OPEN:
            moved = self._expiry.extended(self._tasks_scope.deadline, now, self._token_deadline)
            if moved is not None:
                self._tasks_scope.deadline = moved

    async def _writer(self) -> None:
        self._ws.on_control = self.scheduler.wake
        try:
            while True:
                try:
                    # no local keeps the last write alive while the writer waits
                    if not await self._write(await self.scheduler.receive_some(_WRITE_BYTES)):
                        return
                except trio.EndOfChannel:
                    return
        finally:
            self._tasks_scope.cancel()

    async def _write(self, frames: list[OutboundFrame]) -> bool:
        """Send what a flush left unsent, pending control frames and ``frames``
        in one write; False when the connection cannot take more."""
        data = self._outgoing(frames)
        return not data or await self._send(data)

    def _outgoing(self, frames: list[OutboundFrame]) -> bytes | memoryview:
        texts = [f.text for f in frames if self._fence(f)]
        if self.batch_mode and len(texts) > 1:
            texts = [encode_batch(texts)]
        data = self._ws.take_control() + text_frames(texts)
        unsent, self._unsent = self._unsent, None
        if unsent is not None:  # the rest of a frame already begun goes first
            return bytes(unsent) + data if data else unsent
        return data

    def flush_queued(self) -> None:
        """At the end of a delivery round: when the writer is idle, write what is
        queued now, from this task (no task switch); what the socket does not
        take, and anything else, is left to the writer."""
        scheduler = self.scheduler
        if not scheduler:
            return
        if (
            self._state is not ConnState.OPEN
            or self._unsent is not None
            or not scheduler.receiver_waiting
            or not self._ws.writes_directly
        ):
            scheduler.notify()
            return
        try:
            data = self._outgoing(scheduler.take_nowait(_WRITE_BYTES))
            if data:
                rest = self._ws.send_now(data)
                if rest:
                    self._unsent = rest
        except TransportClosed as exc:
            self._stream_broken = True
            self._on_transport_closed(exc)
            return
        finally:
            if self._unsent is not None:
                scheduler.wake()
            else:
                scheduler.notify()  # more than one write's worth was queued

    def _fence(self, frame: OutboundFrame) -> bool:
        if frame_allowed(frame.user_id, self._user_id):
            return True
        self.fence_refused += 1
        self._stats.fence_refused += 1
        log_event(
            "security_violation",
            logging.ERROR,
            user=self._user_id,
            connection=self._id,
            reason="outbound frame addressed to another user was refused",
        )
        return False

    async def _send(self, data: bytes | memoryview) -> bool:
        try:
            rest = self._ws.send_now(data)  # most writes end here, without waiting
            if not rest:
                return True
            deadline = trio.current_time() + self._config.writer_stall_timeout_s
            if self._state is not ConnState.OPEN:
                deadline = min(deadline, trio.current_time() + self._config.close_timeout_s)
            self._send_scope = scope = trio.CancelScope(deadline=deadline, shield=True)
            with scope:
                await self._ws.send(rest)
        except TransportClosed as exc:
            self._stream_broken = True
            self._on_transport_closed(exc)
            return False
        finally:
            self._send_scope = None
        if scope.cancelled_caught:
            self._stream_broken = True
            if self._state is ConnState.OPEN:
                self._stats.evictions += 1
                log_event(
                    "emergency_cleanup",
                    logging.WARNING,
                    user=self._user_id,
                    connection=self._id,
                    reason="writer stalled",
                )
                self.close(CloseCode.EVICTED, "writer stalled past its deadline")
            return False
        return True

    async def _heartbeat(self) -> None:
        # No cancel scope of its own: a draining connection's heartbeat stops at
        # its next wake-up, or when the writer's end cancels the connection.
        policy = self._heartbeat_policy
        last = trio.current_time()
        while True:
            await trio.sleep_until(policy.next_ping_at(last))
            if self._state is not ConnState.OPEN:
                return
            last = trio.current_time()
            self._pong = pong = trio.Event()
            self._ping_payload = payload = os.urandom(4)
            self._ws.ping(payload)
            with trio.move_on_at(policy.pong_deadline(last)):
                await pong.wait()
                continue
            if self._state is not ConnState.OPEN:
                return
            self._stats.heartbeats_lost += 1
            self.close(CloseCode.HEARTBEAT_LOST, "no pong in time")
            return
