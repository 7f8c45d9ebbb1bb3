"""The health and metrics listener's other answers: a method it does not
serve, a request that is not HTTP, a client that sends nothing, and the
counters by close code and by refused status."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
from trio_websocket import ConnectionRejected

from netra_trio.client import open_client
from netra_trio.config import Config
from netra_trio.server.app import Server
from tests.helpers import start_server, token_for


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    server = await start_server(nursery, metrics_port=0)
    yield server
    server.request_shutdown()


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` and read until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        if request:
            await stream.send_all(request)
        else:
            await stream.send_eof()
        data = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                data += chunk
    return data


async def test_only_get_is_served(server: Server) -> None:
    assert server.metrics_port is not None
    answer = await exchange(server.metrics_port, b"POST /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert body == b'{"error":"only GET is served"}'


async def test_a_request_that_is_not_http_or_no_request_gets_no_answer(server: Server) -> None:
    assert server.metrics_port is not None
    assert await exchange(server.metrics_port, b"\x16\x03\x01 this is not HTTP\r\n\r\n") == b""
    assert await exchange(server.metrics_port, b"") == b""  # connected, sent nothing, left
    # and the listener goes on answering
    answer = await exchange(server.metrics_port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_metrics_count_closes_by_code_and_refusals_by_status(server: Server) -> None:
    assert server.metrics_port is not None
    async with open_client(server.url, token_for("alice")) as client:
        assert (await client.request("ping"))["type"] == "pong"
    with pytest.raises(ConnectionRejected):
        async with open_client(server.url, "not-a-token"):
            pass  # pragma: no cover - refused
    with trio.fail_after(10):
        while not server.hub.stats.closes_by_code:  # noqa: ASYNC110 - the server's own count
            await trio.sleep(0.01)
    answer = await exchange(server.metrics_port, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    text = answer.partition(b"\r\n\r\n")[2].decode()
    assert 'netra_connections_closed_total{code="1000"} 1.0' in text
    assert 'netra_handshakes_rejected_total{code="UNAUTHORIZED",status="401"} 1.0' in text


def test_a_server_needs_a_jwt_secret() -> None:
    with pytest.raises(ValueError, match="needs a JWT secret"):
        Server(Config(jwt_secret=None))


def test_a_server_has_no_hub_until_it_runs() -> None:
    server = Server(Config(jwt_secret="s" * 32))
    with pytest.raises(RuntimeError, match="has not started"):
        server.hub  # noqa: B018 - the property raises
