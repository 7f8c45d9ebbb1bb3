"""The API that the Trio and asyncio clients share, written once.

:class:`BaseClient` holds the sans-IO :class:`~netra_trio.client.core.state.ClientCore`
and the subscriptions, and implements ``request``, ``send``, ``run``,
``events`` and the token refresh over a few primitives that each shell
provides: a signal, a wait with a timeout, a clock, a sleep, and sending one
text frame on the open connection. The shells own the sockets and the tasks:
they open each connection, feed what they read to :meth:`BaseClient._received`,
and tell the base when a connection opens, drops, or the client gives up.
Longer than most modules: it is the whole behaviour of both clients apart
from their sockets and tasks (the routing is ``mailbox.py``, the iterators
``streams.py``, the decisions the sans-IO ``core/``).
"""

from __future__ import annotations

import abc
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

import attrs

from netra_trio.client.core.state import ClientCore
from netra_trio.client.errors import (
    ClientError,
    ConnectionClosed,
    ConnectionLost,
    MalformedFrame,
    ProtocolError,
    RequestTimeout,
    TokenUnavailable,
)
from netra_trio.client.mailbox import Mailbox
from netra_trio.client.streams import ConnectionChanges, EventStream, RunStream, raise_if_error
from netra_trio.client.subscriptions import Ended, Signal, Subscription
from netra_trio.protocol.client_codec import encode_client_message
from netra_trio.protocol.client_messages import (
    ClientMessage,
    ContentPayload,
    Heartbeat,
    Refresh,
    RefreshPayload,
    Resume,
    ResumePayload,
    StartAgent,
    StartAgentPayload,
    UserMessage,
)
from netra_trio.protocol.server_frames import (
    MalformedServerFrame,
    ServerFrame,
    read_server_frames,
)
from netra_trio.protocol.server_messages import (
    ConnectionEstablished,
    ResumeComplete,
    TokenRefreshed,
)

if TYPE_CHECKING:
    import ssl  # (only named: the shells do TLS, and the core loads no socket module)

TokenProvider: TypeAlias = Callable[[], str | Awaitable[str]]
"""A callable that returns a fresh token (or an awaitable of one)."""

LOGGER = logging.getLogger("netra_trio.client")


class BaseClient(abc.ABC):
    def __init__(
        self,
        core: ClientCore,
        *,
        token_provider: TokenProvider | None,
        ssl_context: ssl.SSLContext | None,
        request_timeout_s: float,
        connect_timeout_s: float,
        max_buffered_events: int,
        keepalive_s: float | None,
    ) -> None:
        if not request_timeout_s > 0:
            raise ValueError(f"request_timeout_s must be positive, got {request_timeout_s!r}")
        if not connect_timeout_s > 0:
            raise ValueError(f"connect_timeout_s must be positive, got {connect_timeout_s!r}")
        if keepalive_s is not None and not keepalive_s > 0:
            raise ValueError(f"keepalive_s must be positive or None, got {keepalive_s!r}")
        if isinstance(max_buffered_events, bool) or max_buffered_events < 1:
            raise ValueError(f"max_buffered_events must be at least 1, got {max_buffered_events!r}")
        self._ssl_context = ssl_context
        self._connect_timeout_s = connect_timeout_s
        self._keepalive_s = keepalive_s
        self._core = core
        self._token_provider = token_provider
        self.request_timeout_s = request_timeout_s
        self._max_buffered = max_buffered_events
        self._mailbox = Mailbox(max_buffered_events)
        self._open = False
        self._opened = self._signal()  # set while a connection is open
        self._changed = self._signal()  # set (and replaced) when a connection opens or ends
        self._failure: ClientError | None = None
        self._established: ConnectionEstablished | None = None

    # --- what the shells provide ------------------------------------------------

    @abc.abstractmethod
    def _signal(self) -> Signal: ...

    @abc.abstractmethod
    async def _wait(self, signal: Signal, timeout_s: float | None) -> bool:
        """Wait for ``signal``; False when ``timeout_s`` passed first."""

    @abc.abstractmethod
    def _clock(self) -> float:
        """The event loop's monotonic clock."""

    @abc.abstractmethod
    async def _sleep(self, seconds: float) -> None: ...

    @abc.abstractmethod
    async def _send_text(self, text: str) -> None:
        """Send on the open connection; ConnectionLost when it breaks."""

    # --- public state -------------------------------------------------------------

    @property
    def established(self) -> ConnectionEstablished:
        """The ``connection_established`` payload of the latest connection."""
        assert self._established is not None, "connected clients only"
        return self._established

    @property
    def connected(self) -> bool:
        """Whether a connection is open now (False while reconnecting)."""
        return self._open

    @property
    def session_id(self) -> str | None:
        return self._core.session_id

    @property
    def last_seq(self) -> int | None:
        """The highest ``seq`` delivered: pass it as ``last_seq`` to a later
        client to go on from here."""
        return self._core.resume.last_seq

    @property
    def connections(self) -> int:
        """How many connections were established (1 + the reconnects)."""
        return self._core.connections

    @property
    def gaps(self) -> int:
        """How many resumes reported events that had left the server's retention."""
        return self._core.resume.gaps

    # --- public API ---------------------------------------------------------------

    async def send(self, message: ClientMessage, *, timeout_s: float | None = None) -> None:
        """Send ``message`` without waiting for a reply (``stop_agent``,
        typing indicators). While reconnecting it waits for the connection,
        up to ``timeout_s`` (the client's ``request_timeout_s`` by default)."""
        await self._transmit(encode_client_message(message), self._deadline(timeout_s))

    async def request(
        self, message: ClientMessage, *, timeout_s: float | None = None
    ) -> ServerFrame:
        """Send ``message`` with a ``message_id`` (a fresh one unless it has
        one) and return the reply that correlates. An ``error`` reply raises
        ProtocolError; no reply within ``timeout_s`` (the client's
        ``request_timeout_s`` by default), RequestTimeout; the connection
        dropping before the reply, ConnectionLost."""
        if message.message_id is None:
            message = attrs.evolve(message, message_id=self._core.next_message_id())
        assert message.message_id is not None
        deadline = self._deadline(timeout_s)
        subscription = self._subscribe(message.message_id, events=False, replies=True)
        try:
            await self._transmit(encode_client_message(message), deadline)
            frame = await self._next(subscription, deadline)
        except Ended:
            assert self._failure is not None
            raise self._failure from None  # closed by the caller meanwhile
        finally:
            self._unsubscribe(subscription)
        if frame is None:
            raise RequestTimeout(f"no reply to {message.TYPE} {message.message_id}")
        raise_if_error(frame)
        return frame

    def run(
        self,
        text: str,
        *,
        agent: str | None = None,
        thread_id: str | None = None,
        timeout_s: float | None = None,
    ) -> RunStream:
        """Start a run and iterate its events, up to and including its
        terminal event (``agent_completed`` or ``agent_error``), each once and
        in order across reconnects: ``async for event in client.run(text)``.
        ``text`` goes as ``user_message`` (the server's default agent), or with
        ``agent`` as ``start_agent``; on ``thread_id`` or a new thread. It is
        sent when the iteration starts. A refusal (``AGENT_BUSY``,
        ``NOT_FOUND``, ...) raises ProtocolError; no acknowledgement nor event
        within ``timeout_s``, RequestTimeout; the connection dropping before
        either, ConnectionLost (the run may or may not have started)."""
        message_id = self._core.next_message_id()
        message: ClientMessage
        if agent is None:
            message = UserMessage(
                payload=ContentPayload(content=text), message_id=message_id, thread_id=thread_id
            )
        else:
            message = StartAgent(
                payload=StartAgentPayload(agent=agent, input=text),
                message_id=message_id,
                thread_id=thread_id,
            )
        subscription = self._subscribe(message_id, events=True, replies=True)
        return RunStream(self, subscription, encode_client_message(message), timeout_s)

    def events(self) -> EventStream:
        """Every agent event of the user (of all runs, started by any
        connection of the user), each once and in ``seq`` order across
        reconnects: ``async for event in client.events()``. It starts with
        the events that arrived while no stream was open (the replay of a
        ``last_seq`` given to ``connect``, at most ``max_buffered_events``),
        then goes on live. Ends when the client is closed; raises when it
        gives up."""
        subscription = self._subscribe(None, events=True, replies=False)
        self._mailbox.hand_over_unclaimed(subscription)
        return EventStream(self, subscription)

    def connection_changes(self) -> ConnectionChanges:
        """``connected`` each time it changes: ``async for connected in
        client.connection_changes()`` gets False when a connection ends (the
        client reconnects) and True when the next one is established (its
        resume sent). Changes closer together than the caller reads them are
        seen as the state they lead to. Ends when the client ends."""
        return ConnectionChanges(self)

    async def _connection_changed(self, shown: bool) -> bool | None:
        """The connection's state once it is not ``shown``; None when the client has ended."""
        while self._failure is None:
            if self._open != shown:
                return self._open
            await self._wait(self._changed, None)
        return None

    # --- for the shells -------------------------------------------------------------

    def _first_frame(self, established: ServerFrame, now: float) -> str:
        """Remember ``connection_established``; the frame to send before any
        other: ``resume``, or a ``heartbeat`` (the server holds live events
        for a new connection until its first frame, up to a second)."""
        payload = established.payload
        if established.type != "connection_established" or not isinstance(
            payload, ConnectionEstablished
        ):
            raise MalformedFrame(f"expected connection_established first, got {established.type!r}")
        last_seq = self._core.established(
            payload.session_id, payload.user_id, payload.server_time, now
        )
        self._established = payload
        if last_seq is None:
            return encode_client_message(Heartbeat())
        resume = Resume(
            payload=ResumePayload(last_seq=last_seq), message_id=self._core.next_message_id()
        )
        return encode_client_message(resume)

    def _first_frames(self, text: str | bytes) -> list[ServerFrame]:
        """The frames of a connection's first message (``connection_established`` first)."""
        try:
            frames = read_server_frames(text)
        except MalformedServerFrame as exc:
            raise MalformedFrame(str(exc)) from None
        if not frames:
            raise MalformedFrame("expected connection_established first, got an empty batch")
        return frames

    def _connection_opened(self) -> None:
        self._open = True
        self._opened.set()
        self._announce_change()

    def _announce_change(self) -> None:
        changed, self._changed = self._changed, self._signal()
        changed.set()

    def _connection_dropped(self) -> None:
        """The open connection ended: requests sent on it that wait for a
        reply fail (the client reconnects; runs that started go on; requests
        not sent yet wait for the next connection)."""
        if not self._open:
            return  # an attempt that failed: nothing was sent
        self._open = False
        self._opened = self._signal()
        self._announce_change()
        self._mailbox.fail_unanswered(ConnectionLost("the connection dropped before the reply"))

    def _finished(self, error: ClientError | None) -> None:
        """No more connections: ``error`` is why (None: closed by the caller)."""
        self._open = False
        self._core.close()
        if self._failure is None:
            self._failure = error or ConnectionClosed(1000, "closed by the client")
        self._opened.set()  # wake senders that wait for a connection: they raise
        self._announce_change()
        self._mailbox.fail_all(Ended() if error is None else error)

    def _received(self, text: str | bytes) -> None:
        """Route the frames of one message from the server."""
        try:
            frames = read_server_frames(text)
        except MalformedServerFrame as exc:
            raise MalformedFrame(str(exc)) from None
        for frame in frames:
            self._route(frame)

    def _route(self, frame: ServerFrame) -> None:
        if frame.seq is not None:
            if not self._core.accept_event(frame.seq, frame.timestamp):
                return  # seen before this reconnect
        elif isinstance(frame.payload, ResumeComplete) and frame.type == "resume_complete":
            self._core.resumed(frame.payload.gap)
            if frame.payload.gap:
                LOGGER.warning("resume: events after last_seq had left the server's retention")
        self._mailbox.deliver(frame)

    async def _token(self) -> str:
        """A new token from the provider."""
        assert self._token_provider is not None
        try:
            token = self._token_provider()
            if inspect.isawaitable(token):
                token = await token
        except Exception as exc:
            raise TokenUnavailable(f"the token provider failed: {exc!r}") from exc
        if not isinstance(token, str) or not token:
            raise TokenUnavailable(
                f"the token provider returned {type(token).__name__}, not a token"
            )
        return token

    async def _fresh_token(self) -> None:
        """Before a handshake: a new token when the current one is near its end."""
        if self._core.token_needed(time.time()):
            self._core.use_token(await self._token(), time.time())

    async def _refresh_tokens(self) -> None:
        """On an open connection: send ``refresh`` with a new token a margin
        before the current one expires; a failed refresh is tried again later."""
        while (at := self._core.refresh_at()) is not None:
            await self._sleep(max(0.0, at - time.time()))
            try:
                token = await self._token()
                reply = await self.request(Refresh(payload=RefreshPayload(token=token)))
            except (TokenUnavailable, ProtocolError, RequestTimeout) as exc:
                LOGGER.warning("token refresh failed: %s", exc)
                self._core.refresh_failed(time.time())
                continue
            except ClientError:
                return  # the connection is over: the next one starts its own refreshes
            if isinstance(reply.payload, TokenRefreshed):
                self._core.refreshed(token, reply.payload.expires_at, time.time())
            else:
                self._core.refresh_failed(time.time())

    # --- inside -----------------------------------------------------------------------

    def _deadline(self, timeout_s: float | None) -> float:
        return self._clock() + (self.request_timeout_s if timeout_s is None else timeout_s)

    def _subscribe(
        self, correlation_id: str | None, *, events: bool, replies: bool
    ) -> Subscription:
        if self._failure is not None:
            raise self._failure
        subscription = Subscription(
            self._signal,
            correlation_id=correlation_id,
            events=events,
            replies=replies,
            limit=self._max_buffered,
        )
        self._mailbox.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._mailbox.discard(subscription)

    async def _next(self, subscription: Subscription, deadline: float | None) -> ServerFrame | None:
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        return await subscription.get(self._wait, timeout)

    async def _transmit(self, text: str, deadline: float) -> None:
        """Send ``text`` on the open connection, waiting for one up to ``deadline``."""
        while not self._open:
            if self._failure is not None:
                raise self._failure
            if not await self._wait(self._opened, max(0.0, deadline - self._clock())):
                raise RequestTimeout("no connection to send on (reconnecting)")
        limit = self.established.limits.max_message_bytes
        size = len(text.encode())
        if size > limit:
            raise ValueError(f"the frame has {size} bytes, over the server's limit of {limit}")
        await self._send_text(text)
