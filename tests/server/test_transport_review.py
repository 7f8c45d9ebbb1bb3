"""The wsproto transport against hostile or unlucky peers, and the handshake
against a shutdown.

A ping and a close read together: answering the ping must not fail (when
wsproto has already parsed the close it refuses a pong), and the connection
ends with the peer's code, not as an internal error (1011).

A handshake admitted while shutdown begins (older than the transport change):
see the last test.

A peer that pings but never reads: the reader keeps reading while the writer
cannot get pongs out, so the transport must not keep a pong for every ping
(only the latest unanswered one, as RFC 6455 allows).
"""

from __future__ import annotations

import tracemalloc

import trio
import trio.socket
import trio.testing
from wsproto.events import AcceptConnection, CloseConnection, Ping
from wsproto.frame_protocol import Opcode

from netra_trio.errors import CloseCode
from netra_trio.server.transport import TransportClosed
from tests.helpers import token_for
from tests.server.harness import (
    RawClient,
    connected,
    open_raw,
    raw_frame,
    running_hub,
    wait_until,
)


def _unix_socket_pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
    """Real sockets, so that the server takes its file-descriptor path."""
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


async def test_pings_from_a_peer_that_never_reads_do_not_pile_up_in_server_memory() -> None:
    # Long stall timeout and heartbeat: only the ping flood is in play.
    async with running_hub(
        writer_stall_timeout_s=120, heartbeat_interval_s=600, heartbeat_timeout_s=600
    ) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pair=_unix_socket_pair)
        assert hub.users.get("alice") is not None

        chunk = raw_frame(Opcode.PING, b"p" * 125) * 512  # 512 pings, ~67 KB
        limit = 16 * 1024 * 1024
        sent = 0
        # From here on the client reads nothing: its socket fills with pongs and
        # the server's writer stalls. Only the latest unanswered ping may be
        # remembered (RFC 6455 5.5.3), so what the server holds stays small.
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            with trio.move_on_after(8):
                while sent < limit:
                    try:
                        await client.stream.send_all(chunk)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        break
                    sent += len(chunk)
            await trio.sleep(0.5)  # let the reader parse what is in its socket buffer
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        await client.stream.aclose()  # the stalled write fails at once: teardown is quick

        assert sent > 1024 * 1024  # the flood did go through
        assert grown < 1024 * 1024, f"{grown} bytes held after {sent} bytes of pings"


async def test_a_ping_and_a_close_in_one_read_end_as_the_peers_close() -> None:
    async with connected(max_message_bytes=1024) as (transport, peer):
        # both frames in one write, so the server reads them together
        await peer.stream.send_all(
            peer.ws.send(Ping(payload=b"hi"))
            + peer.ws.send(CloseConnection(code=1000, reason="bye"))
        )
        ping = await transport.receive()
        assert isinstance(ping, Ping)
        # frames are parsed as they are taken: the close behind the ping is
        # not parsed yet, so the ping is answered (as RFC 6455 allows: its
        # close was not received), and answering it does not fail
        transport.answer(ping)
        assert transport.take_control() == b"\x8a\x02hi"
        try:
            await transport.receive()
        except TransportClosed as exc:
            assert (exc.code, exc.by_peer) == (1000, True)
        else:
            raise AssertionError("receive() returned a message")


async def test_a_client_close_right_after_its_ping_is_echoed_with_its_code() -> None:
    async with running_hub() as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        await client._send(
            client.ws.send(Ping(payload=b"hi")) + client.ws.send(CloseConnection(code=1000))
        )
        with trio.fail_after(10):
            answer = await client.until_close()
        await wait_until(lambda: sum(hub.stats.closes_by_code.values()) == 1)
        assert answer.code == CloseCode.NORMAL, f"server answered the close with {answer.code}"
        assert hub.stats.closes_by_code[CloseCode.INTERNAL_ERROR] == 0


async def test_a_handshake_admitted_as_shutdown_begins_is_closed_with_1001() -> None:
    """(Older than the transport change.) ``begin_shutdown`` closes the
    connections that exist; a handshake already past ``_decide`` becomes a
    connection afterwards and nothing closes it: it stays open through the
    whole grace period and is then cancelled (1011), and ``wait_drained``
    waits for it."""
    async with running_hub() as (hub, nursery):
        client_stream, server_stream = trio.testing.lockstep_stream_pair()
        nursery.start_soon(hub.handle_stream, server_stream)
        client = RawClient(client_stream)
        await client.send_request(token_for("alice"))
        # admitted (a lease on alice's hub) and now blocked sending the 101,
        # which a lockstep stream delivers only when the client reads
        await wait_until(
            lambda: (h := hub.users.get("alice")) is not None and h.leases == 1, interval_s=0.01
        )
        hub.begin_shutdown()
        assert isinstance(await client.next_event(), AcceptConnection)
        client.start_pump(nursery)
        with trio.move_on_after(5):
            close = await client.until_close()
            assert close.code == CloseCode.GOING_AWAY
            await hub.wait_drained()
            return
        raise AssertionError("the late connection was not closed when shutdown began")
