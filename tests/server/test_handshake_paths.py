"""The hub's handshake paths that end without a connection: the session store
failing (503), the peer gone before the 101 is sent, no upgrade request in
time, and a stream that fails under the hub. In each, what the handshake took
(a lease on the user's hub, the session's attachment) is given back, and the
hub goes on serving."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import trio
import trio.testing

from netra_trio.server.hub import Hub
from tests.helpers import DatabaseWriteLock, logged_fields, token_for
from tests.server.harness import RawClient, open_raw, running_hub


async def handshake_with_stream_gone(hub: Hub, user: str) -> None:
    """The client sends its upgrade request and hangs up at once; the hub
    handles the socket to the end (in this task)."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client = RawClient(client_stream)
    await client.send_request(token_for(user))
    await client_stream.aclose()
    with trio.fail_after(10):
        await hub.handle_stream(server_stream)


async def test_the_session_store_failing_at_the_handshake_is_503_and_holds_nothing(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "netra.db"
    async with running_hub(database=str(database), database_busy_timeout_s=0.05) as (
        hub,
        nursery,
    ):
        with DatabaseWriteLock(database):  # the new session cannot be stored
            client_stream, server_stream = trio.testing.memory_stream_pair()
            nursery.start_soon(hub.handle_stream, server_stream)
            client = RawClient(client_stream)
            await client.send_request(token_for("alice"))
            rejection, body = await client.rejection()
        assert rejection.status_code == 503
        headers = dict(rejection.headers)
        assert headers[b"retry-after"] == b"1"  # try again in a second
        assert body == {
            "error": {"code": "UNAVAILABLE", "message": "storage is unavailable; try again"}
        }
        assert hub.stats.handshakes_rejected[503] == 1
        (failure,) = logged_fields(netra_logs, "storage_error")
        assert failure["user"] == "alice"
        # the slot on alice's hub was given back: no hub is left holding it
        assert hub.users.get("alice") is None
        assert hub.services.sessions.attached == {}
        # with storage back, alice connects
        again = await open_raw(hub, nursery, "alice")
        assert again.established["user_id"] == "alice"
        assert (await again.close()).code == 1000


async def test_a_peer_gone_before_the_101_leaves_no_connection_no_lease_no_attachment() -> None:
    async with running_hub() as (hub, _):
        await handshake_with_stream_gone(hub, "alice")
        assert hub.stats.connections_opened == 0
        assert hub.users.get("alice") is None  # the lease was given back
        assert len(await hub.services.storage.sessions.user_sessions("alice")) == 1
        assert hub.services.sessions.attached == {}  # opened, then detached
        assert dict(hub.stats.handshakes_rejected) == {}
        hub.begin_shutdown()
        with trio.fail_after(5):
            await hub.wait_drained()  # no stream is counted as still in hand


async def test_no_upgrade_request_within_the_handshake_timeout_closes_the_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(handshake_timeout_s=5) as (hub, nursery):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(hub.handle_stream, server_stream)
        started = trio.current_time()
        await client_stream.send_all(b"GET /ws HTTP/1.1\r\nHost: t\r\n")  # and no more
        with trio.fail_after(60):
            assert await client_stream.receive_some() == b""  # closed, not answered
        assert 5 <= trio.current_time() - started < 6
        assert hub.users == {} and hub.stats.connections_opened == 0


class FailingStream(trio.abc.Stream):
    """A stream whose reads fail with an error no transport should raise."""

    def __init__(self) -> None:
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        raise OSError(errno.EIO, "I/O error")

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


async def test_a_stream_that_fails_is_logged_and_closed_and_the_hub_serves_on(
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    async with running_hub() as (hub, nursery):
        stream = FailingStream()
        with trio.fail_after(5):
            await hub.handle_stream(stream)  # does not raise into the hub's nursery
        assert stream.closed
        (record,) = [r for r in netra_logs.records if r.getMessage() == "stream_error"]
        assert record.exc_info is not None and isinstance(record.exc_info[1], OSError)
        client = await open_raw(hub, nursery, "alice")
        await client.send_json({"type": "ping", "message_id": "p"})
        assert (await client.next_frame())["correlation_id"] == "p"
        assert (await client.close()).code == 1000
