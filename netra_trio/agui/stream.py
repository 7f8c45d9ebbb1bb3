"""An AG-UI run's event stream: POST its input, read its events, within bounds.

:func:`open_events` POSTs the ``RunAgentInput`` as JSON with ``Accept:
text/event-stream`` (``http11.py``) and yields an :class:`EventStream`, whose
:meth:`~EventStream.next_event` returns each AG-UI event as a parsed JSON
object; ``sse.py`` decodes the server-sent events from the body's pieces.

Bounds (:class:`AguiLimits`): the TCP and TLS connect; the first event, from
sending the request (the connect and the response's head included); each next
event, from asking for it; one event's size (``sse.py``). Unreachable, too
slow, or an HTTP error status: ``AGENT_UNAVAILABLE``. Not an event stream
(its ``Content-Type``, or a compressed body: identity is asked for), not JSON
objects, too large, or broken off: ``AGENT_PROTOCOL_ERROR``.

The times are one cancel scope around the whole request: its deadline is
the first event's at first, then moved on as the stream is waited for, so
that it is never less than ``idle_timeout_s`` after a wait began (and at
most 1 s, or 1 % of that bound, more). A scope per read, or a deadline set
and lifted around each, would cost more than reading a small event does. The
deadline also runs while the run hands an event on, so a run held up that
long by its own delivery ends as if the endpoint had gone quiet. However the
run ends (finished, failed, stopped), the connection closes on the way out,
so the endpoint sees its request end.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio

from netra_trio.agui.errors import protocol_error, unavailable
from netra_trio.agui.http11 import (
    NOT_BUFFERED,
    ConnectTimedOut,
    RequestFailed,
    Response,
    StreamBroken,
    open_request,
)
from netra_trio.agui.settings import AguiLimits
from netra_trio.agui.sse import EventTooLarge, SseDecoder

_DEADLINE_SLACK_S = 1.0  # how much later than its bound an idle stream may be given up

_HEADERS = [
    (b"Content-Type", b"application/json"),
    (b"Accept", b"text/event-stream"),
    (b"Accept-Encoding", b"identity"),
    (b"Cache-Control", b"no-store"),
]


class EventStream:
    """The AG-UI events of one response, each within its time."""

    def __init__(self, response: Response, limits: AguiLimits, waiting: trio.CancelScope) -> None:
        self._response = response
        self._decoder = SseDecoder(limits.max_event_bytes)
        self._limits = limits
        self._waiting = waiting
        self._ready: deque[str] = deque()
        self._ended = False
        self._idle = False  # the deadline is an idle one
        self.received = False

    async def next_event(self) -> dict[str, Any] | None:
        """The next event, or None when the stream has ended."""
        waiting = False
        while not self._ready:
            if self._ended:
                return None
            try:
                piece = self._response.buffered_piece()
                if piece is NOT_BUFFERED:
                    if not waiting:  # the time runs from the first wait of this call
                        waiting = True
                        self._extend_deadline()
                    await self._response.receive()
                    continue
            except StreamBroken as exc:
                raise protocol_error(f"the agent endpoint's stream broke off ({exc})") from None
            self._decode(piece)
        data = self._ready.popleft()
        self.received = True
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise protocol_error("the agent endpoint sent an event that is not JSON") from None
        if not isinstance(event, dict):
            raise protocol_error("the agent endpoint sent an event that is not a JSON object")
        return event

    def _extend_deadline(self) -> None:
        """At least ``idle_timeout_s`` from now, once an event has come (the
        first has until the first deadline); moved only when it would end
        sooner, and then a little further, so that a stream of small events
        moves it once in a while rather than for each."""
        if not self.received:
            return
        idle_s = self._limits.idle_timeout_s
        now = trio.current_time()
        if not self._idle or self._waiting.deadline < now + idle_s:
            self._idle = True  # (the first deadline no longer holds)
            self._waiting.deadline = now + idle_s + min(_DEADLINE_SLACK_S, idle_s / 100)

    def _decode(self, piece: bytes | None) -> None:
        """Decode a piece of the body (None: its end)."""
        if piece is None:
            self._ended = True
            self._ready.extend(self._decoder.end())
            return
        try:
            self._ready.extend(self._decoder.feed(piece))
        except EventTooLarge:
            raise protocol_error(
                f"the agent endpoint sent an event larger than {self._limits.max_event_bytes} bytes"
            ) from None


@asynccontextmanager
async def open_events(
    url: str, body: dict[str, Any], limits: AguiLimits, tls: ssl.SSLContext
) -> AsyncIterator[EventStream]:
    """POST ``body`` to ``url`` and yield its event stream; on the way out the
    request is closed."""
    stream: EventStream | None = None
    with trio.move_on_after(limits.first_event_timeout_s) as waiting:
        try:
            async with open_request(
                url,
                orjson.dumps(body),
                _HEADERS,
                tls=tls,
                connect_timeout_s=limits.connect_timeout_s,
            ) as response:
                stream = EventStream(_checked(response), limits, waiting)
                yield stream
        except ConnectTimedOut:
            raise unavailable(
                f"the agent endpoint could not be reached within {limits.connect_timeout_s:g} s"
            ) from None
        except RequestFailed as exc:
            raise unavailable(f"the agent endpoint could not be reached ({exc})") from None
    if waiting.cancelled_caught:
        if stream is not None and stream.received:
            raise unavailable(f"the agent endpoint sent no event for {limits.idle_timeout_s:g} s")
        raise unavailable(
            f"the agent endpoint sent no event within {limits.first_event_timeout_s:g} s"
        )


def _checked(response: Response) -> Response:
    """``response``, when it is a successful, uncompressed event stream."""
    if not 200 <= response.status < 300:
        raise unavailable(f"the agent endpoint answered HTTP {response.status}")
    content_type = response.headers.get(b"content-type", b"").decode("latin-1")
    if content_type.partition(";")[0].strip().lower() != "text/event-stream":
        raise protocol_error(
            f"the agent endpoint answered with Content-Type {content_type[:100]!r},"
            " not an event stream (text/event-stream)"
        )
    encoding = response.headers.get(b"content-encoding", b"identity").decode("latin-1")
    encoding = encoding.strip().lower()
    if encoding not in ("", "identity"):
        raise protocol_error(f"the agent endpoint compressed its event stream ({encoding[:40]})")
    return response
