"""One streaming HTTP/1.1 request of an AG-UI run: h11 over a Trio stream.

:func:`open_request` connects (TCP, and TLS for ``https://``), sends one
``POST`` with its body, and yields a :class:`Response`: the status and head,
then the body's pieces as the network delivers them, de-chunked by h11:
:meth:`Response.buffered_piece` takes the next from what has been received,
and only when nothing is left does :meth:`Response.receive` wait for more. On the way out the
connection closes, so the endpoint sees its request end however the run
ended.

Why h11 rather than httpx, which the bridge first used: a run reads its
stream in many small pieces (one AG-UI event each, as agent frameworks
flush them), and through httpx each piece went up seven layers (httpx's
response and its transport, httpcore's stream, trace, response body and
event reader, its Trio stream with a cancel scope per read), which cost as
much again as the socket and h11 themselves: twice the CPU per run
(``benchmarks/agui_bridge.py``, RESULTS.md). HTTP stays parsed by h11,
the HTTP/1.1 library under httpx, and the server-sent events by httpx-sse's
decoders (``sse.py``); this module only connects and drives them. A run
makes one request, so there is no pool to keep. What httpx would add and the
bridge does not use: redirects, cookies, HTTP/2, proxies (the endpoint is
reached directly).

Failures are :class:`RequestFailed` (the endpoint could not be reached, or its
head did not come) and :class:`StreamBroken` (the body broke off), each with a
short reason that never holds the URL.
"""

from __future__ import annotations

import base64
import enum
import os
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast
from urllib.parse import unquote, urlsplit

import attrs
import h11
import trio

USER_AGENT = b"netra-trio"
_READ_BYTES = 65536


class RequestFailed(Exception):
    """The endpoint was not reached, or answered with no head."""


class ConnectTimedOut(RequestFailed):
    """The TCP (or TLS) connect took longer than its bound."""


class StreamBroken(Exception):
    """The response's body broke off."""


@attrs.frozen
class Target:
    """Where a URL points: how to connect, and the request's target."""

    tls: bool
    host: str
    port: int
    path: str  # with the query
    host_header: bytes
    authorization: bytes | None

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if tls else 80)
        shown = f"[{host}]" if ":" in host else host
        default = port == (443 if tls else 80)
        authorization = None
        if parts.username is not None:
            user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = b"Basic " + base64.b64encode(user.encode())
        return cls(
            tls=tls,
            host=host,
            port=port,
            path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            host_header=(shown if default else f"{shown}:{port}").encode(),
            authorization=authorization,
        )


class NotBuffered(enum.Enum):
    NOT_BUFFERED = enum.auto()


NOT_BUFFERED = NotBuffered.NOT_BUFFERED


class Response:
    """The response to the request: its head, then its body piece by piece."""

    def __init__(self, stream: trio.abc.Stream, connection: h11.Connection) -> None:
        self._stream = stream
        self._connection = connection
        self.status = 0
        self.headers: dict[bytes, bytes] = {}

    async def read_head(self) -> None:
        """Wait for the response's status and headers (after any 1xx)."""
        try:
            while True:
                event = await self._next()
                if isinstance(event, h11.Response):
                    self.status = event.status_code
                    self.headers = {name.lower(): value for name, value in event.headers}
                    return
        except (h11.ProtocolError, trio.BrokenResourceError) as exc:
            raise RequestFailed(_reason(exc)) from None

    def buffered_piece(self) -> bytes | NotBuffered | None:
        """The body's next piece among the bytes received so far: None at the
        body's end, ``NOT_BUFFERED`` when :meth:`receive` must come first."""
        try:
            while True:
                event = self._connection.next_event()
                if event is h11.NEED_DATA:
                    return NOT_BUFFERED
                if isinstance(event, h11.Data) and event.data:
                    return bytes(event.data)
                if isinstance(event, h11.EndOfMessage):
                    return None
        except h11.ProtocolError as exc:
            raise StreamBroken(_reason(exc)) from None

    async def receive(self) -> None:
        """Wait for more of the response (its end, when the peer closes)."""
        try:
            data = await self._stream.receive_some(_READ_BYTES)
        except trio.BrokenResourceError as exc:
            raise StreamBroken(_reason(exc)) from None
        self._connection.receive_data(bytes(data))

    async def _next(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self._connection.next_event()
            if event is h11.NEED_DATA:
                self._connection.receive_data(bytes(await self._stream.receive_some(_READ_BYTES)))
                continue
            if isinstance(event, h11.ConnectionClosed):  # pragma: no cover - h11 raises first
                raise h11.RemoteProtocolError("the connection closed")
            return cast("h11.Event | type[h11.PAUSED]", event)


@asynccontextmanager
async def open_request(
    url: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    tls: ssl.SSLContext,
    connect_timeout_s: float,
) -> AsyncIterator[Response]:
    """POST ``body`` to ``url`` and yield the response, once its head has come."""
    target = Target.of(url)
    stream = await _connect(target, tls, connect_timeout_s)
    try:
        connection = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method=b"POST",
            target=target.path.encode(),
            headers=[
                (b"Host", target.host_header),
                (b"User-Agent", USER_AGENT),
                (b"Content-Length", str(len(body)).encode()),
                *([(b"Authorization", target.authorization)] if target.authorization else []),
                *headers,
            ],
        )
        data = connection.send(request) + connection.send(h11.Data(data=body))
        data += connection.send(h11.EndOfMessage())
        try:
            await stream.send_all(data)
        except trio.BrokenResourceError as exc:
            raise RequestFailed(_reason(exc)) from None
        response = Response(stream, connection)
        await response.read_head()
        yield response
    finally:
        await trio.aclose_forcefully(stream)


async def _connect(target: Target, tls: ssl.SSLContext, timeout_s: float) -> trio.abc.Stream:
    """A connected stream (TLS done for ``https``), within ``timeout_s``."""
    with trio.move_on_after(timeout_s):
        try:
            tcp = await trio.open_tcp_stream(target.host, target.port)
        except OSError as exc:
            raise RequestFailed(_reason(exc)) from None
        if not target.tls:
            return tcp
        secured = trio.SSLStream(tcp, tls, server_hostname=target.host, https_compatible=True)
        try:
            await secured.do_handshake()
        except trio.BrokenResourceError as exc:
            await trio.aclose_forcefully(tcp)
            raise RequestFailed(_reason(exc)) from None
        except BaseException:
            await trio.aclose_forcefully(tcp)
            raise
        return secured
    raise ConnectTimedOut


def _reason(exc: BaseException) -> str:
    """What failed, for a message: the exception's kind, or the kind of what caused it."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        exc = cause
    if isinstance(cause, BaseExceptionGroup) and cause.exceptions:  # every address failed
        exc = cause.exceptions[0]
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror  # the name was not found (the message never holds the host)
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.errno:
        return os.strerror(exc.errno)
    return type(exc).__name__
