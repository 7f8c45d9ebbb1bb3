"""The API that the Trio and asyncio clients share, written once.

:class:`BaseClient` holds the sans-IO :class:`~netra_trio.client.core.state.ClientCore`
and the subscriptions, and implements ``request``, ``send``, ``run``,
``events`` and the token refresh over a few primitives that each shell
provides: a signal, a wait with a timeout, a clock, a sleep, and sending one
text frame on the open connection. The shells own the sockets and the tasks:
they open each connection, feed what they read to :meth:`BaseClient._received`,
and tell the base when a connection opens, drops, or the client gives up.
"""

from __future__ import annotations

import abc
import inspect
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

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
    ErrorPayload,
    ResumeComplete,
    TokenRefreshed,
)

TokenProvider: TypeAlias = Callable[[], str | Awaitable[str]]
"""A callable that returns a fresh token (or an awaitable of one)."""

LOGGER = logging.getLogger("netra_trio.client")


class BaseClient(abc.ABC):
    def __init__(
        self,
        core: ClientCore,
        *,
        token_provider: TokenProvider | None,
        request_timeout_s: float,
        max_buffered_events: int,
    ) -> None:
        if not request_timeout_s > 0:
            raise ValueError(f"request_timeout_s must be positive, got {request_timeout_s!r}")
        if isinstance(max_buffered_events, bool) or max_buffered_events < 1:
            raise ValueError(f"max_buffered_events must be at least 1, got {max_buffered_events!r}")
        self._core = core
        self._token_provider = token_provider
        self.request_timeout_s = request_timeout_s
        self._max_buffered = max_buffered_events
        self._subscriptions: set[Subscription] = set()
        # agent events that arrived while no event stream was open: the next
        # stream starts with them (so a resume right after connecting is not
        # lost before the caller asks for events); the oldest go past the bound
        self._unclaimed: deque[ServerFrame] = deque(maxlen=max_buffered_events)
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
            self._subscriptions.discard(subscription)
        if frame is None:
            raise RequestTimeout(f"no reply to {message.TYPE} {message.message_id}")
        _raise_if_error(frame)
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
        while self._unclaimed:
            subscription.push(self._unclaimed.popleft())
        return EventStream(self, subscription)

    async def connection_changes(self) -> AsyncIterator[bool]:
        """``connected`` each time it changes: False when a connection ends
        (the client reconnects), True when the next one is established (its
        resume sent). Changes closer together than the caller reads them are
        seen as the state they lead to. Ends when the client ends."""
        shown = self._open
        while self._failure is None:
            await self._wait(self._changed, None)
            if self._failure is None and self._open != shown:
                shown = self._open
                yield shown

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
        """The open connection ended: requests that wait for a reply fail (the
        client reconnects; runs that started go on)."""
        if self._open:
            self._open = False
            self._opened = self._signal()
            self._announce_change()
        for subscription in list(self._subscriptions):
            if subscription.replies and not subscription.started:
                subscription.fail(ConnectionLost("the connection dropped before the reply"))
                self._subscriptions.discard(subscription)

    def _finished(self, error: ClientError | None) -> None:
        """No more connections: ``error`` is why (None: closed by the caller)."""
        self._open = False
        self._core.close()
        if self._failure is None:
            self._failure = error or ConnectionClosed(1000, "closed by the client")
        self._opened.set()  # wake senders that wait for a connection: they raise
        self._announce_change()
        for subscription in self._subscriptions:
            subscription.fail(Ended() if error is None else error)
        self._subscriptions.clear()

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
        elif frame.correlation_id is None:
            return  # user_typing, uncorrelated errors: not for any consumer
        streamed = False
        for subscription in list(self._subscriptions):
            if subscription.wants(frame):
                streamed = streamed or subscription.correlation_id is None
                if not subscription.push(frame):
                    self._subscriptions.discard(subscription)
        if frame.seq is not None and not streamed:
            self._unclaimed.append(frame)

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
        self._subscriptions.add(subscription)
        return subscription

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


class RunStream:
    """The events of one run (made by :meth:`BaseClient.run`). ``run_id`` is
    known once its first event arrived (to stop it with ``stop_agent``);
    ``close()`` stops following it (the run goes on)."""

    __slots__ = ("_client", "_deadline", "_done", "_sent", "_subscription", "_text", "_timeout_s")

    def __init__(
        self, client: BaseClient, subscription: Subscription, text: str, timeout_s: float | None
    ) -> None:
        self._client = client
        self._subscription = subscription
        self._text = text
        self._timeout_s = timeout_s
        self._deadline = 0.0
        self._sent = False
        self._done = False

    @property
    def message_id(self) -> str:
        """The request's ``message_id`` (the run's events carry it as ``correlation_id``)."""
        assert self._subscription.correlation_id is not None
        return self._subscription.correlation_id

    @property
    def run_id(self) -> str | None:
        return self._subscription.run_id

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> ServerFrame:
        if self._done:
            raise StopAsyncIteration
        client, subscription = self._client, self._subscription
        try:
            if not self._sent:
                self._sent = True
                self._deadline = client._deadline(self._timeout_s)
                await client._transmit(self._text, self._deadline)
            while True:
                deadline = None if subscription.started else self._deadline
                frame = await client._next(subscription, deadline)
                if frame is None:
                    raise RequestTimeout(f"the run {self.message_id} did not start in time")
                if frame.seq is not None:
                    break
                _raise_if_error(frame)  # else message_ack: the run is on its way
        except Ended:
            self.close()
            raise StopAsyncIteration from None
        except ClientError:
            self.close()
            raise
        if frame.is_terminal:
            self.close()
        return frame

    def close(self) -> None:
        self._done = True
        self._client._subscriptions.discard(self._subscription)

    def __del__(self) -> None:
        self.close()


class EventStream:
    """An iterator of agent events, subscribed from its creation (events that
    arrive before the first ``__anext__`` are kept). ``close()`` stops it."""

    __slots__ = ("_client", "_subscription")

    def __init__(self, client: BaseClient, subscription: Subscription) -> None:
        self._client = client
        self._subscription = subscription

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServerFrame:
        try:
            frame = await self._client._next(self._subscription, None)
        except Ended:
            self.close()
            raise StopAsyncIteration from None
        except ClientError:
            self.close()  # the client gave up, or this stream fell too far behind
            raise
        assert frame is not None
        return frame

    def close(self) -> None:
        self._client._subscriptions.discard(self._subscription)

    def __del__(self) -> None:
        self.close()


def _raise_if_error(frame: ServerFrame) -> None:
    if frame.type != "error":
        return
    payload = frame.payload
    if isinstance(payload, ErrorPayload):
        raise ProtocolError(
            payload.code,
            payload.message,
            details=payload.details,
            correlation_id=frame.correlation_id,
        )
    raise ProtocolError(
        str(_get(payload, "code", "UNKNOWN")),
        str(_get(payload, "message", "")),
        correlation_id=frame.correlation_id,
    )


def _get(payload: Any, key: str, default: str) -> Any:
    return payload.get(key, default) if isinstance(payload, dict) else default
