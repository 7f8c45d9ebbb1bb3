"""The HTTP side of an AG-UI run: POST its input, read its event stream, within bounds.

:func:`open_events` POSTs the ``RunAgentInput`` as JSON with ``Accept:
text/event-stream`` through an httpx ``AsyncClient`` (httpx runs on Trio
through anyio) and yields an :class:`EventStream`, whose
:meth:`~EventStream.next_event` returns each AG-UI event as a parsed JSON
object; httpx-sse decodes the server-sent events.

Bounds (:class:`AguiLimits`): the TCP and TLS connect; the first event, from
sending the request (the connect and the response's head included); each next
event, from asking for it; one event's size: more than ``max_event_bytes`` of
the body without an event completing is refused, counted below the SSE
decoder in the pieces that the network delivers (at most 64 KiB each, exact
to one piece), so no event is held whole past the limit. Unreachable, too
slow, or an HTTP error status: ``AGENT_UNAVAILABLE``. Not an event stream
(its ``Content-Type``, or a compressed body: identity is asked for), not JSON
objects, too large, or broken off: ``AGENT_PROTOCOL_ERROR``.

One ``AsyncClient`` per run: a run makes one request, so a shared pool would
save only a TCP (and TLS) handshake per run, while a client of its own closes
with the run, whatever ends it, with nothing left to manage at shutdown. What
makes a client cost (about 30 ms) is loading the CA certificates into a TLS
context; that context is made once per process and shared (``agent.py``), so a
client costs about 0.1 ms.

Ending a read: httpx and httpx-sse read through a chain of async generators,
and leaving the chain at a ``yield`` leaves the generators below unfinished
(Trio warns as they are collected). So it is never left that way:
:func:`finish_reading` resumes it in a cancelled scope, so that it ends where
it reads from the socket and every generator in it finishes. Then the
response and the client close, which closes the connection: the endpoint sees
its request end, whether the run finished, failed or was stopped.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import trio
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse

from netra_trio.agui.errors import protocol_error, unavailable
from netra_trio.agui.settings import AguiLimits

_FINISH_STEPS = 10_000  # events already decoded or buffered, skipped when a read ends early


class _EventTooLarge(Exception):
    pass


class _CountedBody(httpx.AsyncByteStream):
    """A response's body, counted since the last event: ``limit`` bytes
    without one raise :class:`_EventTooLarge`."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self._response = response
        self._limit = limit
        self.pending = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._response.aiter_raw()
        async for chunk in chunks:
            self.pending += len(chunk)
            if self.pending > self._limit:
                await finish_reading(chunks)
                raise _EventTooLarge
            yield chunk


class EventStream:
    """The AG-UI events of one response, each within its time."""

    def __init__(
        self,
        events: AsyncGenerator[ServerSentEvent, None],
        body: _CountedBody,
        limits: AguiLimits,
        first_deadline: float,
    ) -> None:
        self._events = events
        self._body = body
        self._limits = limits
        self._deadline = first_deadline
        self._received = False

    async def next_event(self) -> dict[str, Any] | None:
        """The next event, or None when the stream has ended."""
        if self._received:
            self._deadline = trio.current_time() + self._limits.idle_timeout_s
        with trio.move_on_at(self._deadline) as waiting:
            try:
                data = await self._next_data()
            except _EventTooLarge:
                raise protocol_error(
                    f"the agent endpoint sent an event larger than"
                    f" {self._limits.max_event_bytes} bytes"
                ) from None
            except httpx.HTTPError as exc:
                raise protocol_error(
                    f"the agent endpoint's stream broke off ({type(exc).__name__})"
                ) from None
        if waiting.cancelled_caught:
            if self._received:
                raise unavailable(
                    f"the agent endpoint sent no event for {self._limits.idle_timeout_s:g} s"
                )
            raise unavailable(
                f"the agent endpoint sent no event within {self._limits.first_event_timeout_s:g} s"
            )
        if data is None:
            return None
        self._received = True
        self._body.pending = 0
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise protocol_error("the agent endpoint sent an event that is not JSON") from None
        if not isinstance(event, dict):
            raise protocol_error("the agent endpoint sent an event that is not a JSON object")
        return event

    async def _next_data(self) -> str | None:
        """The data of the next server-sent event that has some."""
        while True:
            try:
                sse = await anext(self._events)
            except StopAsyncIteration:
                return None
            if sse.data:
                return sse.data


@asynccontextmanager
async def open_events(
    url: str, body: dict[str, Any], limits: AguiLimits, tls: ssl.SSLContext
) -> AsyncIterator[EventStream]:
    """POST ``body`` to ``url`` and yield its event stream; on the way out the
    request is closed."""
    first_deadline = trio.current_time() + limits.first_event_timeout_s
    timeout = httpx.Timeout(limits.connect_timeout_s, read=None)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=timeout, verify=tls))
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        request = aconnect_sse(client, "POST", url, content=orjson.dumps(body), headers=headers)
        with trio.move_on_at(first_deadline) as waiting:
            try:
                source: EventSource = await stack.enter_async_context(request)
            except httpx.ConnectTimeout:
                raise unavailable(
                    f"the agent endpoint could not be reached within {limits.connect_timeout_s:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise unavailable(
                    f"the agent endpoint could not be reached ({type(exc).__name__})"
                ) from None
        if waiting.cancelled_caught:
            raise unavailable(
                f"the agent endpoint sent no event within {limits.first_event_timeout_s:g} s"
            )
        counted = _CountedBody(_checked(source.response), limits.max_event_bytes)
        content_type = source.response.headers["content-type"]
        events = EventSource(
            httpx.Response(200, headers={"content-type": content_type}, stream=counted)
        ).aiter_sse()
        stack.push_async_callback(finish_reading, events)
        yield EventStream(events, counted, limits, first_deadline)


def _checked(response: httpx.Response) -> httpx.Response:
    """``response``, when it is a successful, uncompressed event stream."""
    if not 200 <= response.status_code < 300:
        raise unavailable(f"the agent endpoint answered HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != "text/event-stream":
        raise protocol_error(
            f"the agent endpoint answered with Content-Type {content_type[:100]!r},"
            " not an event stream (text/event-stream)"
        )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise protocol_error(f"the agent endpoint compressed its event stream ({encoding[:40]})")
    return response


async def finish_reading(chunks: AsyncIterator[Any]) -> None:
    """End a chain of async generators that was left at a ``yield``: resume it
    in a cancelled scope until it raises (where it reads from the network) or
    ends, so that every generator in it finishes. Also when the run is
    being cancelled (shielded)."""
    with trio.CancelScope(shield=True):
        for _ in range(_FINISH_STEPS):
            with trio.CancelScope() as reading:
                reading.cancel()
                try:
                    await anext(chunks)
                except Exception:  # the end, or how the read failed
                    return
            if reading.cancelled_caught:
                return
