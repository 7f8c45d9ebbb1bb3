"""The asyncio client, on the ``websockets`` library (the ``asyncio`` extra:
``pip install 'netra-trio[asyncio]'``). The same API as the Trio client:

    async with connect("wss://example.com", token) as client:
        async for event in client.run("how do we cut our LLM cost?"):
            print(event.type, event.payload)

A thin shell over the sans-IO core (``client/core``) and the shared API
(``client/base.py``): one task keeps a connection open (opening, reading,
refreshing the token, waiting out the backoff), and the caller's tasks send
and wait on it. See docs/clients.md.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

try:
    import websockets.asyncio.client as ws_client
    from websockets.exceptions import ConnectionClosed as WebSocketClosed
    from websockets.exceptions import InvalidHandshake, InvalidStatus
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(
        "the asyncio client needs the websockets library: pip install 'netra-trio[asyncio]'"
    ) from exc

from netra_trio.client.base import BaseClient, TokenProvider
from netra_trio.client.connecting import new_core
from netra_trio.client.core.backoff import ReconnectPolicy
from netra_trio.client.core.decisions import Decision, GiveUp
from netra_trio.client.core.rejection import read_rejection
from netra_trio.client.core.state import ClientCore
from netra_trio.client.errors import ClientError, ConnectFailed, ConnectionLost
from netra_trio.client.subscriptions import Signal
from netra_trio.protocol.server_frames import ServerFrame

ABNORMAL_CLOSURE = 1006
MAX_RECEIVED_MESSAGE_BYTES = 16 * 2**20
CLOSE_TIMEOUT_S = 2.0


class AsyncioClient(BaseClient):
    """Made by :func:`connect`; see :class:`~netra_trio.client.base.BaseClient`
    for the API (``request``, ``send``, ``run``, ``events``)."""

    def __init__(self, core: ClientCore, **settings: Any) -> None:
        """``settings``: :class:`~netra_trio.client.base.BaseClient`'s."""
        super().__init__(core, **settings)
        self._ws: ws_client.ClientConnection | None = None

    def _signal(self) -> Signal:
        return asyncio.Event()

    async def _wait(self, signal: Signal, timeout_s: float | None) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                await signal.wait()
        except TimeoutError:
            return False
        return True

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        assert ws is not None  # the base sends only while a connection is open
        try:
            await ws.send(text)
        except WebSocketClosed:
            raise ConnectionLost("the connection dropped before the frame was sent") from None

    async def aclose(self) -> None:
        """Close the connection (1000) and stop reconnecting; iterators end."""
        self._finished(None)
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "closed by the client")

    async def _maintain(self, ready: asyncio.Future[None]) -> None:
        """Open connections until the client gives up or is closed."""
        while True:
            decision = await self._connection(ready)
            self._connection_dropped()
            if isinstance(decision, GiveUp):
                self._finished(decision.error)
                if not ready.done():
                    ready.set_exception(decision.error)
                return
            await asyncio.sleep(decision.delay_s)

    async def _connection(self, ready: asyncio.Future[None]) -> Decision:
        """Open one connection and serve it until it ends; what to do next."""
        core = self._core
        try:
            await self._fresh_token()
            handshake = core.handshake()
            options: dict[str, Any] = {}
            if core.address.secure and self._ssl_context is not None:
                options["ssl"] = self._ssl_context
            opening = ws_client.connect(
                core.address.url(core.session_id),
                additional_headers=list(handshake.headers),
                open_timeout=self._connect_timeout_s,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_RECEIVED_MESSAGE_BYTES,
                compression=None,
                ping_interval=self._keepalive_s,
                ping_timeout=self._keepalive_s,
                **options,
            )
            async with opening as ws:
                try:
                    async with asyncio.timeout(self._connect_timeout_s):
                        frames = self._first_frames(await ws.recv())
                except WebSocketClosed as closed:
                    return self._closed(closed)
                return await self._serve(ws, frames, ready)
        except InvalidStatus as refused:
            response = refused.response
            rejection = read_rejection(
                response.status_code, response.headers.raw_items(), bytes(response.body)
            )
            return core.refused(rejection)
        except TimeoutError:
            return core.unreachable(
                ConnectFailed(f"the handshake took over {self._connect_timeout_s} s")
            )
        except (OSError, InvalidHandshake) as exc:
            failed = ConnectFailed(f"cannot connect to {core.address.url()}: {exc}")
            failed.__cause__ = exc
            return core.unreachable(failed)
        except ClientError as error:  # malformed frames, a token of another user
            return GiveUp(error)

    async def _serve(
        self,
        ws: ws_client.ClientConnection,
        frames: list[ServerFrame],
        ready: asyncio.Future[None],
    ) -> Decision:
        """Resume, then read until the connection ends (refreshing the token meanwhile)."""
        try:
            await ws.send(self._first_frame(frames[0], time.time()))
        except WebSocketClosed as closed:
            return self._closed(closed)
        self._ws = ws
        self._connection_opened()
        if not ready.done():
            ready.set_result(None)
        refresher = asyncio.create_task(self._refresh_tokens())
        try:
            return await self._read(ws, frames[1:])
        finally:
            self._ws = None
            self._connection_dropped()
            await _stop(refresher)

    async def _read(self, ws: ws_client.ClientConnection, frames: list[ServerFrame]) -> Decision:
        try:
            for frame in frames:
                self._route(frame)
            while True:
                self._received(await ws.recv())
        except WebSocketClosed as closed:
            return self._closed(closed)
        except ClientError as error:
            return GiveUp(error)

    def _closed(self, closed: WebSocketClosed) -> Decision:
        received = closed.rcvd
        if received is None:
            return self._core.closed(ABNORMAL_CLOSURE, "", time.time())
        return self._core.closed(received.code, received.reason, time.time())


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
) -> AsyncIterator[AsyncioClient]:
    """A client connected to ``url``, past ``connection_established``: the
    same arguments and behaviour as the Trio :func:`netra_trio.client.connect`."""
    core, provider = new_core(
        url, token, reconnect=reconnect, refresh_margin_s=refresh_margin_s, last_seq=last_seq
    )
    client = AsyncioClient(
        core,
        token_provider=provider,
        ssl_context=ssl_context,
        request_timeout_s=request_timeout_s,
        connect_timeout_s=connect_timeout_s,
        max_buffered_events=max_buffered_events,
        keepalive_s=keepalive_s,
    )
    core.use_token(token if isinstance(token, str) else await client._token(), time.time())
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    maintainer = asyncio.create_task(client._maintain(ready))
    try:
        await ready
        yield client
    finally:
        await client.aclose()
        await _stop(maintainer)


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it; a cancellation of the caller itself goes on."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
