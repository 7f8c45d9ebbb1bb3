"""The wsproto transport on its own, over in-memory streams, against a raw
wsproto client: the upgrade, reassembly, size limits, control frames and the
closing handshake."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionState
from wsproto.events import (
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import Opcode

from netra_trio.server.transport import TransportClosed, text_frames
from netra_trio.server.upgrade import read_handshake
from tests.server.harness import RawPeer, connected, raw_frame


async def test_fragments_are_joined_into_one_message() -> None:
    async with connected() as (transport, peer):
        await peer.send(TextMessage(data="hel", message_finished=False))
        await peer.send(TextMessage(data="lo ✓", message_finished=True))
        assert await transport.receive() == "hello ✓"


async def test_a_message_over_the_limit_is_refused_before_it_is_whole() -> None:
    async with connected(max_message_bytes=64) as (transport, peer):
        await peer.send(TextMessage(data="x" * 40, message_finished=False))
        await peer.send(TextMessage(data="x" * 40, message_finished=False))
        with pytest.raises(TransportClosed) as info:
            await transport.receive()
        assert (info.value.code, info.value.by_peer) == (1009, False)


async def test_invalid_utf8_is_a_protocol_error_with_1007() -> None:
    async with connected() as (transport, peer):
        await peer.stream.send_all(raw_frame(Opcode.TEXT, b"\xff\xfe"))
        with pytest.raises(TransportClosed) as info:
            await transport.receive()
        assert (info.value.code, info.value.by_peer) == (1007, False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(transport.close, info.value.code, "invalid text")
            (close,) = await peer.events()
            assert isinstance(close, CloseConnection) and close.code == 1007
            await peer.send(close.response())


@pytest.mark.parametrize(
    "frame",
    [
        bytes((0x81, 0x02)) + b"hi",  # a client frame without a mask
        raw_frame(Opcode.PING, b"x" * 10, fin=False),  # a fragmented control frame
        bytes((0x80 | Opcode.TEXT | 0x40, 0x80)) + b"\0\0\0\0",  # a reserved bit set
    ],
    ids=["unmasked", "fragmented-ping", "reserved-bit"],
)
async def test_a_frame_that_breaks_the_rfc_is_a_protocol_error_with_1002(frame: bytes) -> None:
    async with connected() as (transport, peer):
        await peer.stream.send_all(frame)
        with pytest.raises(TransportClosed) as info:
            await transport.receive()
        assert (info.value.code, info.value.by_peer) == (1002, False)


async def test_a_client_ping_is_returned_and_answered_through_the_control_queue() -> None:
    async with connected() as (transport, peer):
        woken: list[bool] = []
        transport.on_control = lambda: woken.append(True)
        await peer.send(Ping(payload=b"abc"))
        await peer.send(TextMessage(data="after"))
        ping = await transport.receive()
        assert isinstance(ping, Ping) and ping.payload == b"abc"
        assert transport.take_control() == b"" and woken == []  # not answered by itself
        transport.answer(ping)
        assert await transport.receive() == "after"
        assert woken == [True]
        await transport.send(transport.take_control())
        assert transport.take_control() == b""
        (pong,) = await peer.events()
        assert isinstance(pong, Pong) and pong.payload == b"abc"


async def test_a_pong_is_returned_to_the_reader() -> None:
    async with connected() as (transport, peer):
        transport.ping(b"\x01\x02")
        await transport.send(transport.take_control())
        (ping,) = await peer.events()
        assert isinstance(ping, Ping)
        await peer.send(ping.response())
        await peer.send(TextMessage(data="next"))
        pong = await transport.receive()
        assert isinstance(pong, Pong) and pong.payload == b"\x01\x02"
        assert await transport.receive() == "next"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
async def test_text_frames_are_read_back_by_a_websocket_client(size: int) -> None:
    async with connected() as (transport, peer):
        texts = ["é" * (size // 2) + "a" * (size % 2), "tail"]
        await transport.send(text_frames(texts))
        got: list[str] = []
        parts: list[str] = []
        while len(got) < 2:
            for event in await peer.events():
                assert isinstance(event, TextMessage)
                parts.append(event.data)
                if event.message_finished:
                    got.append("".join(parts))
                    parts = []
        assert got == texts
        assert len(texts[0].encode()) == size


async def test_the_peer_closes_and_the_close_is_answered_with_its_code() -> None:
    async with connected() as (transport, peer):
        await peer.send(CloseConnection(code=4321, reason="bye"))
        with pytest.raises(TransportClosed) as info:
            await transport.receive()
        assert (info.value.code, info.value.reason, info.value.by_peer) == (4321, "bye", True)
        await transport.close(info.value.code, "")
        (answer,) = await peer.events()
        assert isinstance(answer, CloseConnection) and answer.code == 4321
        assert peer.ws.state is ConnectionState.CLOSED


async def test_our_close_waits_for_the_answer_and_reads_past_pending_data() -> None:
    async with connected() as (transport, peer), trio.open_nursery() as nursery:
        await peer.send(TextMessage(data="unread"))  # still in flight when we close

        async def answer() -> None:
            (close,) = await peer.events()
            assert isinstance(close, CloseConnection) and close.code == 4008
            assert close.reason == "slow"
            await peer.send(close.response())

        nursery.start_soon(answer)
        with trio.fail_after(5):
            await transport.close(4008, "slow")
        assert peer.ws.state is ConnectionState.CLOSED


async def test_a_lost_stream_ends_with_1006() -> None:
    async with connected() as (transport, peer):
        await peer.stream.aclose()
        with pytest.raises(TransportClosed) as info:
            await transport.receive()
        assert (info.value.code, info.value.by_peer) == (1006, True)
        with trio.fail_after(5):
            await transport.close(1011, "gone")  # nothing to do: no raise, no wait


async def test_a_plain_http_request_gets_400_and_no_websocket() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    await client_stream.send_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert await read_handshake(server_stream) is None
    response = await client_stream.receive_some(4096)
    assert response.startswith(b"HTTP/1.1 400 ")
    assert b"Upgrade" in response  # the reason names the missing header


async def test_a_rejection_carries_status_headers_and_body() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = RawPeer(client_stream)
    await peer.send(Request(host="localhost", target="/ws"))
    handshake = await read_handshake(server_stream)
    assert handshake is not None
    await handshake.reject(429, [(b"Content-Type", b"application/json")], b'{"error":1}')
    events = await peer.events()
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 429
    assert any(isinstance(e, RejectData) and e.data == b'{"error":1}' for e in events)


async def test_a_peer_that_hangs_up_mid_request_gives_none() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    await client_stream.send_all(b"GET /ws HTTP/1.1\r\nHost: loc")
    await client_stream.aclose()
    assert await read_handshake(server_stream) is None
