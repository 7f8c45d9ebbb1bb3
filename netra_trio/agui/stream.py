"""The HTTP side of an AG-UI run: POST its input, read its event stream, within bounds.

:func:`open_events` POSTs the ``RunAgentInput`` as JSON with ``Accept:
text/event-stream`` through the agent's httpx ``AsyncClient`` (httpx runs on
Trio through anyio) and yields an :class:`EventStream`, whose
:meth:`~EventStream.next_event` returns each AG-UI event as a parsed JSON
object; ``sse.py`` decodes the server-sent events from the body's pieces.

Bounds (:class:`AguiLimits`): the TCP and TLS connect; the first event, from
sending the request (the connect and the response's head included); each next
event, from asking for it; one event's size (``sse.py``). Unreachable, too
slow, or an HTTP error status: ``AGENT_UNAVAILABLE``. Not an event stream
(its ``Content-Type``, or a compressed body: identity is asked for), not JSON
objects, too large, or broken off: ``AGENT_PROTOCOL_ERROR``.

The times are one cancel scope around the whole request, whose deadline is
set while the stream is waited for and lifted while the run handles an event:
a scope per read would cost more than reading a small event does.

Ending a read: httpx reads through a chain of async generators, and leaving
the chain at a ``yield`` leaves the generators below unfinished (Trio warns as
they are collected). So it is never left that way: :func:`finish_reading`
resumes it in a cancelled scope, so that it ends where it reads from the
socket and every generator in it finishes. Then the response closes: its
connection goes back to the client's pool when the body had been read to its
end, and is closed otherwise, so the endpoint sees its request end, whether
the run finished, failed or was stopped.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import trio

from netra_trio.agui.errors import protocol_error, unavailable
from netra_trio.agui.settings import AguiLimits
from netra_trio.agui.sse import EventTooLarge, SseDecoder

_FINISH_STEPS = 10_000  # pieces already buffered, skipped when a read ends early


class EventStream:
    """The AG-UI events of one response, each within its time."""

    def __init__(
        self, pieces: AsyncIterator[bytes], limits: AguiLimits, waiting: trio.CancelScope
    ) -> None:
        self._pieces = pieces
        self._decoder = SseDecoder(limits.max_event_bytes)
        self._limits = limits
        self._waiting = waiting
        self._first_deadline = waiting.deadline
        self._ready: deque[str] = deque()
        self._ended = False
        self.received = False

    async def next_event(self) -> dict[str, Any] | None:
        """The next event, or None when the stream has ended."""
        if not self._ready:
            self._waiting.deadline = (
                trio.current_time() + self._limits.idle_timeout_s
                if self.received
                else self._first_deadline
            )
            try:
                while not self._ready:
                    if self._ended:
                        return None
                    await self._read()
            finally:
                self._waiting.deadline = math.inf
        data = self._ready.popleft()
        self.received = True
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise protocol_error("the agent endpoint sent an event that is not JSON") from None
        if not isinstance(event, dict):
            raise protocol_error("the agent endpoint sent an event that is not a JSON object")
        return event

    async def _read(self) -> None:
        """Decode the next piece of the body, or its end."""
        try:
            piece = await anext(self._pieces)
        except StopAsyncIteration:
            self._ended = True
            self._ready.extend(self._decoder.end())
            return
        except httpx.HTTPError as exc:
            raise protocol_error(
                f"the agent endpoint's stream broke off ({type(exc).__name__})"
            ) from None
        try:
            self._ready.extend(self._decoder.feed(piece))
        except EventTooLarge:
            raise protocol_error(
                f"the agent endpoint sent an event larger than {self._limits.max_event_bytes} bytes"
            ) from None


def agui_client(limits: AguiLimits, tls: ssl.SSLContext) -> httpx.AsyncClient:
    """The HTTP client of one AG-UI agent (its pool of connections)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(limits.connect_timeout_s, read=None), verify=tls)


@asynccontextmanager
async def open_events(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], limits: AguiLimits
) -> AsyncIterator[EventStream]:
    """POST ``body`` to ``url`` and yield its event stream; on the way out the
    request is closed."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",
        "Cache-Control": "no-store",
    }
    request = client.build_request("POST", url, content=orjson.dumps(body), headers=headers)
    stream: EventStream | None = None
    with trio.move_on_after(limits.first_event_timeout_s) as waiting:
        async with contextlib.AsyncExitStack() as stack:
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectTimeout:
                raise unavailable(
                    f"the agent endpoint could not be reached within {limits.connect_timeout_s:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise unavailable(
                    f"the agent endpoint could not be reached ({type(exc).__name__})"
                ) from None
            stack.push_async_callback(_close, response)
            pieces = _checked(response).aiter_raw()
            stack.push_async_callback(finish_reading, pieces)
            stream = EventStream(pieces, limits, waiting)
            yield stream
    if waiting.cancelled_caught:
        if stream is not None and stream.received:
            raise unavailable(f"the agent endpoint sent no event for {limits.idle_timeout_s:g} s")
        raise unavailable(
            f"the agent endpoint sent no event within {limits.first_event_timeout_s:g} s"
        )


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


async def _close(response: httpx.Response) -> None:
    """Close ``response`` (and its connection, unless its body was read to the
    end), also when the request is being cancelled."""
    with trio.CancelScope(shield=True):
        await response.aclose()


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
