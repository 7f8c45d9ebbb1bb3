"""Health and readiness on the server's main port (and the metrics port),
over loopback: ``/healthz`` 200 while the process runs, ``/readyz`` 200 when
ready and 503 naming what it waits for (Redis lost; shutdown, before any
connection is closed); ``/metrics`` only on the metrics listener, which binds
``--metrics-host``."""

from __future__ import annotations

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed

from netra_trio.client import open_client
from tests.helpers import start_server, token_for
from tests.redis_server import RedisServer
from tests.server.test_http import http_get
from tests.server.test_http_paths import exchange


async def test_health_and_readiness_on_the_main_port(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, metrics_port=0)
    assert await http_get(server.port, "/healthz") == (200, b'{"status":"ok"}')
    assert await http_get(server.port, "/readyz") == (200, b'{"status":"ready","waiting_for":[]}')
    assert await http_get(server.port, "/readyz?verbose=1") == (
        200,
        b'{"status":"ready","waiting_for":[]}',
    )
    # /metrics stays off the public port; unknown paths are 404 as well
    assert (await http_get(server.port, "/metrics"))[0] == 404
    assert (await http_get(server.port, "/nope"))[0] == 404
    assert server.metrics_port is not None
    assert (await http_get(server.metrics_port, "/metrics"))[0] == 200
    # a WebSocket connection on the same port goes on as before
    async with open_client(server.url, token_for("alice")) as client:
        assert (await client.request("ping"))["type"] == "pong"
    server.request_shutdown()


@pytest.mark.parametrize("port", ["main", "metrics"])
async def test_head_is_answered_without_a_body_and_other_methods_get_405(
    nursery: trio.Nursery, port: str
) -> None:
    """(A HEAD request to the metrics port used to fail in h11 with the body it
    must not have, and that failure took the whole server down.)"""
    server = await start_server(nursery, metrics_port=0)
    number = server.port if port == "main" else server.metrics_port
    assert number is not None
    _, got = await http_get(number, "/readyz")
    answer = await exchange(number, b"HEAD /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"content-length: {len(got)}".encode() in head.lower()  # the GET's length
    assert body == b""
    answer = await exchange(number, b"POST /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    # and the listener goes on answering, and the server serving
    assert (await http_get(number, "/healthz"))[0] == 200
    async with open_client(server.url, token_for("alice")) as client:
        assert (await client.request("ping"))["type"] == "pong"
    server.request_shutdown()


async def test_readiness_is_503_during_shutdown_before_connections_close(
    nursery: trio.Nursery,
) -> None:
    """Requests that were under way when shutdown began (their sockets already
    accepted) are answered 503 by the time the first connection gets its 1001;
    ``/healthz`` stays 200: the process is alive."""
    server = await start_server(nursery, metrics_port=0)
    assert server.metrics_port is not None
    pending = {}
    # (the metrics ones first: the listener stops once the main port's sockets are done)
    for name, port in (("metrics", server.metrics_port), ("main", server.port)):
        for path in ("/readyz", "/healthz"):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(f"GET {path} HTTP/1.1\r\n".encode())  # the rest comes later
            pending[name, path] = stream
    async with open_client(server.url, token_for("alice")) as client:
        server.request_shutdown()
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            await client.receive()
    assert closed.value.reason.code == 1001
    answers = {}
    for key, stream in pending.items():
        async with stream:
            await stream.send_all(b"Host: t\r\n\r\n")
            data = b""
            with trio.fail_after(10):
                while chunk := await stream.receive_some(65536):
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert data, key
        answers[key] = (int(head.split()[1]), orjson.loads(body))
    not_ready = (503, {"status": "not_ready", "waiting_for": ["shutdown"]})
    assert answers["main", "/readyz"] == not_ready
    assert answers["metrics", "/readyz"] == not_ready
    assert answers["main", "/healthz"] == (200, {"status": "shutting_down"})
    assert answers["metrics", "/healthz"][0] == 200


async def test_readiness_names_redis_when_it_is_lost_on_both_ports(
    nursery: trio.Nursery, redis_server: RedisServer, redis_url: str, tmp_path: trio.Path
) -> None:
    server = await start_server(
        nursery, redis_url=redis_url, database=str(tmp_path / "netra.db"), metrics_port=0
    )
    assert server.metrics_port is not None
    ready = (200, b'{"status":"ready","waiting_for":[]}')
    assert await http_get(server.port, "/readyz") == ready
    redis_server.stop()
    try:
        for port in (server.port, server.metrics_port):
            status, body = await http_get(port, "/readyz")
            assert (status, orjson.loads(body)) == (
                503,
                {"status": "not_ready", "waiting_for": ["Redis"]},
            )
        answer = await exchange(server.port, b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"\r\nretry-after: 1\r\n" in answer.partition(b"\r\n\r\n")[0].lower()
        assert await http_get(server.port, "/healthz") == (200, b'{"status":"ok"}')
    finally:
        redis_server.start()
    with trio.fail_after(20):
        while await http_get(server.port, "/readyz") != ready:  # noqa: ASYNC110 - it recovers
            await trio.sleep(0.1)
    server.request_shutdown()


async def test_the_metrics_listener_binds_the_metrics_host_not_the_main_host(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, host="127.0.0.1", metrics_port=0, metrics_host="127.0.0.2")
    assert server.metrics_port is not None
    stream = await trio.open_tcp_stream("127.0.0.2", server.metrics_port)
    async with stream:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (await stream.receive_some(12)).startswith(b"HTTP/1.1 200")
    with pytest.raises(OSError, match="all attempts to connect"):
        await trio.open_tcp_stream("127.0.0.1", server.metrics_port)
    server.request_shutdown()
