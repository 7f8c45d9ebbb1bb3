"""The transport under a flood of tiny frames: it lets other tasks run while it
works through one read, and after its close frame it stops parsing and waiting
for a peer that keeps sending."""

from __future__ import annotations

import trio
import trio.lowlevel
from wsproto.events import CloseConnection, Ping
from wsproto.frame_protocol import Opcode

from netra_trio.server.transport import CLOSE_READ_BYTES, FRAMES_PER_TURN, RECEIVE_BYTES
from tests.server.harness import connected, raw_frame

PING = raw_frame(Opcode.PING, b"")  # 6 bytes


async def test_one_read_of_many_frames_lets_other_tasks_run() -> None:
    async with connected() as (transport, peer):
        count = 1000
        await peer.stream.send_all(PING * count)  # one read: 6,000 bytes
        turns = 0
        reading = True

        async def other_task() -> None:
            nonlocal turns
            while reading:
                turns += 1
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other_task)
            await trio.lowlevel.checkpoint()  # (it has started)
            before = turns
            for _ in range(count):
                assert isinstance(await transport.receive(), Ping)
            during = turns - before
            reading = False
        assert during >= count // FRAMES_PER_TURN - 1


async def test_after_its_close_the_server_does_not_keep_reading_a_flood() -> None:
    async with connected() as (transport, peer):
        await peer.stream.send_all(PING * 2000)
        assert isinstance(await transport.receive(), Ping)
        sent = 0

        async def flood() -> None:
            nonlocal sent
            chunk = PING * (RECEIVE_BYTES // len(PING))
            while True:  # a peer that never answers the close
                await peer.stream.send_all(chunk)
                sent += len(chunk)
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            with trio.fail_after(5):
                await transport.close(1008, "too many messages")
            nursery.cancel_scope.cancel()
        assert sent <= 2 * CLOSE_READ_BYTES  # it returned soon after its budget


async def test_a_peer_that_answers_the_close_is_still_heard() -> None:
    async with connected() as (transport, peer):
        await peer.stream.send_all(PING * 10)  # a little in flight, then the answer

        async def answer() -> None:
            events = await peer.events()
            assert any(isinstance(e, CloseConnection) and e.code == 1000 for e in events)
            await peer.stream.send_all(peer.ws.send(CloseConnection(code=1000)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)
            # the peer never hangs up: close() returns only once it has parsed
            # the peer's answer
            with trio.fail_after(5):
                await transport.close(1000, "bye")
