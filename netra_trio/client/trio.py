"""The Trio client: reconnects and resumes by itself, typed frames.

    async with connect("wss://example.com", token) as client:
        async for event in client.run("how do we cut our LLM cost?"):
            print(event.type, event.payload)

A thin shell over the sans-IO core (``client/core``) and the shared API
(``client/base.py``): one task keeps a connection open (opening, reading,
refreshing the token, waiting out the backoff), and the caller's tasks send
and wait on it. See docs/clients.md.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_websocket

from netra_trio.client.base import BaseClient, TokenProvider
from netra_trio.client.connecting import new_core
from netra_trio.client.core.backoff import ReconnectPolicy
from netra_trio.client.core.decisions import Decision, GiveUp
from netra_trio.client.core.rejection import read_rejection
from netra_trio.client.core.state import ClientCore
from netra_trio.client.errors import (
    ClientError,
    ConnectFailed,
    ConnectionClosed,
    ConnectionLost,
    HandshakeRejected,
)
from netra_trio.client.subscriptions import Signal
from netra_trio.client.websocket import open_websocket
from netra_trio.protocol.server_frames import ServerFrame

ABNORMAL_CLOSURE = 1006
MAX_RECEIVED_MESSAGE_CHARS = 16 * 2**20


class TrioClient(BaseClient):
    """Made by :func:`connect`; see :class:`~netra_trio.client.base.BaseClient`
    for the API (``request``, ``send``, ``run``, ``events``)."""

    def __init__(self, core: ClientCore, **settings: Any) -> None:
        """``settings``: :class:`~netra_trio.client.base.BaseClient`'s."""
        super().__init__(core, **settings)
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._reading: trio.CancelScope | None = None
        self._stalled = False  # a keepalive ping got no pong in time

    def _signal(self) -> Signal:
        return trio.Event()

    async def _wait(self, signal: Signal, timeout_s: float | None) -> bool:
        with trio.move_on_after(math.inf if timeout_s is None else timeout_s):
            await signal.wait()
            return True
        return False

    def _clock(self) -> float:
        return trio.current_time()

    async def _sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        assert ws is not None  # the base sends only while a connection is open
        try:
            await ws.send_message(text)
        except trio_websocket.ConnectionClosed:
            raise ConnectionLost("the connection dropped before the frame was sent") from None

    async def aclose(self) -> None:
        """Close the connection (1000) and stop reconnecting; iterators end."""
        self._finished(None)
        if self._reading is not None:
            # Stop reading only: the connection's task then closes the
            # WebSocket with the close handshake, which needs its reader alive.
            self._reading.cancel()
        else:
            self._scope.cancel()  # connecting, or waiting to reconnect
        await self._done.wait()

    async def _maintain(self, task_status: trio.TaskStatus[ClientError | None]) -> None:
        """Open connections until the client gives up or is closed. Reports
        started once the first connection is open (None), or with the error
        that kept it from opening."""
        try:
            with self._scope:
                while True:
                    decision = await self._connection(task_status)
                    self._connection_dropped()
                    if isinstance(decision, GiveUp):
                        self._finished(decision.error)
                        if self._core.connections == 0:
                            task_status.started(decision.error)
                        return
                    if self._failure is not None:
                        return  # closed by the caller meanwhile
                    await trio.sleep(decision.delay_s)
        finally:
            self._done.set()

    async def _connection(self, task_status: trio.TaskStatus[ClientError | None]) -> Decision:
        """Open one connection and serve it until it ends; what to do next."""
        core = self._core
        try:
            await self._fresh_token()
            handshake = core.handshake()
            headers = [(k.encode(), v.encode()) for k, v in handshake.headers]
            deadline = trio.current_time() + self._connect_timeout_s
            with trio.CancelScope(deadline=deadline) as opening:
                async with open_websocket(
                    core.address,
                    headers=headers,
                    ssl_context=self._ssl_context,
                    resource=handshake.resource,
                    max_message_chars=MAX_RECEIVED_MESSAGE_CHARS,
                ) as ws:
                    try:
                        frames = self._first_frames(await ws.get_message())
                    except trio_websocket.ConnectionClosed as closed:
                        return self._closed(closed)
                    opening.deadline = math.inf
                    return await self._serve(ws, frames, task_status)
            return core.unreachable(
                ConnectFailed(f"the handshake took over {self._connect_timeout_s} s")
            )
        except trio_websocket.ConnectionRejected as rejected:
            return core.refused(_rejection(rejected))
        except (OSError, trio.BrokenResourceError, trio_websocket.HandshakeError) as exc:
            failed = ConnectFailed(f"cannot connect to {core.address.url()}: {exc}")
            failed.__cause__ = exc
            return core.unreachable(failed)
        except ClientError as error:  # malformed frames, a token of another user
            return GiveUp(error)

    async def _serve(
        self,
        ws: trio_websocket.WebSocketConnection,
        frames: list[ServerFrame],
        task_status: trio.TaskStatus[ClientError | None],
    ) -> Decision:
        """Resume, then read until the connection ends (refreshing the token meanwhile)."""
        try:
            await ws.send_message(self._first_frame(frames[0], time.time()))
        except trio_websocket.ConnectionClosed as closed:
            return self._closed(closed)
        self._ws = ws
        self._connection_opened()
        if self._core.connections == 1:
            task_status.started(None)
        self._stalled = False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._refresh_tokens)
                if self._keepalive_s is not None:
                    nursery.start_soon(self._keepalive, ws, self._keepalive_s)
                decision: Decision = GiveUp(ConnectionClosed(1000, "closed by the client"))
                with trio.CancelScope() as self._reading:
                    decision = await self._read(ws, frames[1:])
                self._reading = None
                nursery.cancel_scope.cancel()
        finally:
            self._ws = None
            self._connection_dropped()
        if self._stalled:
            return self._core.closed(ABNORMAL_CLOSURE, "no pong to a keepalive ping", time.time())
        return decision

    async def _keepalive(self, ws: trio_websocket.WebSocketConnection, interval_s: float) -> None:
        """A ping every ``interval_s``; no pong within ``interval_s``: the
        connection (or the network under it) is dead, stop reading it."""
        while True:
            await trio.sleep(interval_s)
            with trio.move_on_after(interval_s):
                try:
                    await ws.ping()
                except trio_websocket.ConnectionClosed:
                    return  # the reader sees it too
                continue
            self._stalled = True
            assert self._reading is not None
            self._reading.cancel()
            return

    async def _read(
        self, ws: trio_websocket.WebSocketConnection, frames: list[ServerFrame]
    ) -> Decision:
        try:
            for frame in frames:
                self._route(frame)
            while True:
                self._received(await ws.get_message())
        except trio_websocket.ConnectionClosed as closed:
            return self._closed(closed)
        except ClientError as error:
            return GiveUp(error)

    def _closed(self, closed: trio_websocket.ConnectionClosed) -> Decision:
        reason = closed.reason  # trio-websocket gives 1006 itself when the stream broke
        code = ABNORMAL_CLOSURE if reason is None else reason.code
        text = (reason.reason if reason is not None else None) or ""
        return self._core.closed(code, text, time.time())


def _rejection(rejected: trio_websocket.ConnectionRejected) -> HandshakeRejected:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in rejected.headers]
    return read_rejection(rejected.status_code, headers, rejected.body)


@asynccontextmanager
async def connect(
    url: str,
    token: str | TokenProvider,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reconnect: ReconnectPolicy | None = None,
    last_seq: int | None = None,
    request_timeout_s: float = 10.0,
    connect_timeout_s: float = 10.0,
    refresh_margin_s: float | None = 60.0,
    max_buffered_events: int = 10_000,
    keepalive_s: float | None = 20.0,
) -> AsyncIterator[TrioClient]:
    """A client connected to ``url`` (``ws://`` or ``wss://``, the port and
    the ``/ws`` path optional), past ``connection_established``.

    ``token``: a JWT, or a token provider (a function, sync or async, that
    returns a fresh one), called for the first connection, a margin before
    each token expires (sent as ``refresh``), and before a reconnect whose
    token is near its end. ``last_seq``: resume from there on the first
    connection (a ``last_seq`` kept from an earlier client). Failing to
    connect the first time raises (HandshakeRejected, ConnectFailed,
    ConnectionClosed); later failures are retried as ``reconnect`` says.
    ``keepalive_s``: a WebSocket ping that often; a connection that does not
    answer one within as long is deemed dead and opened again (None: off).
    """
    core, provider = new_core(
        url, token, reconnect=reconnect, refresh_margin_s=refresh_margin_s, last_seq=last_seq
    )
    client = TrioClient(
        core,
        token_provider=provider,
        ssl_context=ssl_context,
        request_timeout_s=request_timeout_s,
        connect_timeout_s=connect_timeout_s,
        max_buffered_events=max_buffered_events,
        keepalive_s=keepalive_s,
    )
    if isinstance(token, str):
        core.use_token(token, time.time())
    else:
        core.use_token(await client._token(), time.time())
    try:
        async with trio.open_nursery() as nursery:
            failure = await nursery.start(client._maintain)
            if failure is None:
                try:
                    yield client
                finally:
                    await client.aclose()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:  # the caller's own exception
            only = group.exceptions[0]
            raise only from only.__cause__
        raise
    if failure is not None:
        raise failure
