"""One streaming request of an AG-UI run (``agui/http11.py``) against small
servers on loopback that answer with bytes of their own: TLS, the head and
the request's target, every way HTTP/1.1 frames a body, and every way the
exchange can fail."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from netra_trio.agui.http11 import (
    NOT_BUFFERED,
    ConnectTimedOut,
    RequestFailed,
    Response,
    StreamBroken,
    Target,
    open_request,
)
from tests.signing_keys import self_signed_certificate

Answer = Callable[[trio.abc.Stream, bytes], Awaitable[None]]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


class Peer:
    """A server on a free loopback port that reads one request and answers
    with ``answer``; ``request`` is what it read (up to the body's end)."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.request = b""
        self.port = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        async with listeners[0]:
            stream: trio.abc.Stream = await listeners[0].accept()
        if self.tls is not None:
            stream = trio.SSLStream(stream, self.tls, server_side=True)
        async with stream:
            while b"\r\n\r\n" not in self.request or not self.request.endswith(b"}"):
                piece = await stream.receive_some(65536)
                if not piece:
                    return
                self.request += piece
            await self.answer(stream, self.request)


def replying(*pieces: bytes) -> Answer:
    async def answer(stream: trio.abc.Stream, request: bytes) -> None:
        for piece in pieces:
            await stream.send_all(piece)
            await trio.sleep(0.001)

    return answer


async def read_all(response: Response) -> list[bytes]:
    pieces = []
    while (piece := response.buffered_piece()) is not None:
        if piece is NOT_BUFFERED:
            await response.receive()
        else:
            pieces.append(piece)
    return pieces


async def exchange(
    nursery: trio.Nursery,
    peer: Peer,
    *,
    scheme: str = "http",
    userinfo: str = "",
    tls: ssl.SSLContext | None = None,
) -> tuple[Response, list[bytes]]:
    await nursery.start(peer.serve)
    url = f"{scheme}://{userinfo}127.0.0.1:{peer.port}/agent/run?x=1"
    with trio.fail_after(10):
        async with open_request(
            url,
            b'{"ask":1}',
            [(b"Accept", b"text/event-stream")],
            tls=tls or ssl.create_default_context(),
            connect_timeout_s=5,
        ) as response:
            return response, await read_all(response)


async def test_the_request_names_its_target_and_a_chunked_body_is_read_piece_by_piece(
    nursery: trio.Nursery,
) -> None:
    peer = Peer(
        replying(
            HEAD + b"Transfer-Encoding: chunked\r\n\r\n",
            b"5\r\nhello\r\n",
            b"6\r\n world\r\n",
            b"0\r\n\r\n",
        )
    )
    response, pieces = await exchange(nursery, peer, userinfo="me:p%40ss@")
    assert (response.status, response.headers[b"content-type"]) == (200, b"text/event-stream")
    assert b"".join(pieces) == b"hello world"
    head = peer.request.split(b"\r\n\r\n")[0].lower().split(b"\r\n")
    assert head[0] == b"post /agent/run?x=1 http/1.1"
    assert f"host: 127.0.0.1:{peer.port}".encode() in head
    assert b"authorization: basic bwu6cebzcw==" in head  # me:p@ss, base64 (lower-cased)
    assert b"content-length: 9" in head
    assert peer.request.endswith(b'\r\n\r\n{"ask":1}')


async def test_a_body_of_a_given_length_or_until_the_close_and_a_1xx_first(
    nursery: trio.Nursery,
) -> None:
    sized = Peer(replying(HEAD + b"Content-Length: 4\r\n\r\nda", b"ta"))
    assert b"".join((await exchange(nursery, sized))[1]) == b"data"
    until_close = Peer(
        replying(b"HTTP/1.1 100 Continue\r\n\r\n", HEAD + b"\r\n", b"all ", b"of it")
    )
    response, pieces = await exchange(nursery, until_close)
    assert (response.status, b"".join(pieces)) == (200, b"all of it")


async def test_tls_with_a_trusted_certificate_and_refused_without(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    peer = Peer(replying(HEAD + b"Content-Length: 2\r\n\r\nok"), tls=server_side)
    _, pieces = await exchange(nursery, peer, scheme="https", tls=trusting)
    assert pieces == [b"ok"]
    assert f"host: 127.0.0.1:{peer.port}".encode() in peer.request.lower()
    stranger = Peer(replying(HEAD + b"\r\n"), tls=server_side)
    with pytest.raises(RequestFailed, match=r"^SSLCertVerificationError$"):
        await exchange(nursery, stranger, scheme="https")


async def test_nothing_listening_a_head_that_never_comes_and_a_body_cut_off(
    nursery: trio.Nursery,
) -> None:
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(RequestFailed, match=r"^Connection refused$"):
        async with open_request(
            f"http://127.0.0.1:{port}/",
            b"{}",
            [],
            tls=ssl.create_default_context(),
            connect_timeout_s=5,
        ):
            pass  # pragma: no cover
    with pytest.raises(RequestFailed, match=r"^RemoteProtocolError$"):
        await exchange(nursery, Peer(replying(b"HTTP/1.1 200 O")))  # closes mid-head
    with pytest.raises(StreamBroken, match=r"^RemoteProtocolError$"):
        await exchange(nursery, Peer(replying(HEAD + b"Content-Length: 10\r\n\r\nshort")))
    with pytest.raises(StreamBroken, match=r"^RemoteProtocolError$"):
        await exchange(nursery, Peer(replying(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")))


async def test_a_tls_handshake_that_never_ends_is_bounded_by_the_connect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    async def silent(stream: trio.abc.Stream, request: bytes) -> None:  # pragma: no cover
        pass

    peer = Peer(silent)  # plain TCP: a ClientHello gets no answer, ever
    await nursery.start(peer.serve)
    with pytest.raises(ConnectTimedOut):
        async with open_request(
            f"https://127.0.0.1:{peer.port}/",
            b"{}",
            [],
            tls=ssl.create_default_context(),
            connect_timeout_s=5,
        ):
            pass  # pragma: no cover


def test_a_target_in_its_parts() -> None:
    assert Target.of("https://[::1]/") == Target(
        tls=True, host="::1", port=443, path="/", host_header=b"[::1]", authorization=None
    )
    plain = Target.of("http://agents.example:8080")
    assert (plain.port, plain.path, plain.host_header) == (8080, "/", b"agents.example:8080")
    assert Target.of("http://agents.example:80/x").host_header == b"agents.example"
