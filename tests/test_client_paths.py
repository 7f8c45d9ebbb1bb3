"""The frame-level client's error paths: a URL it cannot use, no token, a peer that
is not a netra server, and a peer that never answers the handshake."""

from __future__ import annotations

import contextlib

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketRequest, serve_websocket

from netra_trio.client import open_client, open_websocket
from netra_trio.server.app import Server


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("127.0.0.1:8000/ws", "expected a ws:// or wss:// URL"),
        ("http://127.0.0.1:8000/ws", "expected a ws:// or wss:// URL"),
        ("ws:///ws", "names no host"),
    ],
)
async def test_a_url_that_is_not_a_websocket_url_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        async with open_websocket(url):
            pass  # pragma: no cover - never opened


async def test_without_a_token_the_server_refuses_with_401(server: Server) -> None:
    with trio.fail_after(10), pytest.raises(ConnectionRejected) as refused:
        async with open_client(server.url, None):
            pass  # pragma: no cover - never opened
    assert refused.value.status_code == 401
    assert refused.value.body is not None
    assert orjson.loads(refused.value.body)["error"]["code"] == "UNAUTHORIZED"


async def test_a_peer_that_does_not_speak_netra_first_is_refused(nursery: trio.Nursery) -> None:
    async def greet(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(orjson.dumps({"type": "hello"}).decode())
        with contextlib.suppress(ConnectionClosed):
            await ws.get_message()  # until the client goes

    listening = await nursery.start(serve_websocket, greet, "127.0.0.1", 0, None)
    port = listening.port
    with trio.fail_after(10), pytest.raises(RuntimeError, match="got 'hello'"):
        async with open_client(f"ws://127.0.0.1:{port}/ws", "token"):
            pass  # pragma: no cover - never opened
    nursery.cancel_scope.cancel()


async def test_a_peer_that_never_answers_the_handshake_times_out(nursery: trio.Nursery) -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    held: list[trio.SocketStream] = []

    async def accept_and_stay_silent() -> None:
        async with listener:
            while True:
                held.append(await listener.accept())

    nursery.start_soon(accept_and_stay_silent)
    started = trio.current_time()
    with trio.fail_after(10), pytest.raises(trio.TooSlowError, match=r"took over 0\.3 s"):
        async with open_client(f"ws://127.0.0.1:{port}/ws", "token", connect_timeout_s=0.3):
            pass  # pragma: no cover - never opened
    assert 0.3 <= trio.current_time() - started < 5
    assert held  # it did connect: the handshake is what never came back
    for stream in held:
        await stream.aclose()
    nursery.cancel_scope.cancel()
