"""The hub's edge, over in-memory streams: handshakes in progress per address
(a socket over the cap gets 429 before anything is read, and the slots come
back when the slow ones time out), and ``Retry-After`` on every 429 and 503
the hub sends. (In-memory streams have no peer address: all of them count as
one address.)"""

from __future__ import annotations

import orjson
import trio
import trio.testing
from wsproto.events import RejectConnection

from netra_trio.server.hub import Hub
from tests.helpers import token_for
from tests.server.harness import RawClient, open_raw, running_hub

PARTIAL_REQUEST = b"GET /ws HTTP/1.1\r\nHost: t\r\n"  # and the rest never comes


async def trickling(hub: Hub, nursery: trio.Nursery) -> trio.abc.Stream:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(hub.handle_stream, server_stream)
    await client_stream.send_all(PARTIAL_REQUEST)
    return client_stream


async def read_all(stream: trio.abc.Stream) -> bytes:
    data = b""
    with trio.fail_after(60):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


def split_response(data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


async def test_a_socket_over_the_cap_of_its_address_gets_429_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(max_handshakes_per_address=3, handshake_timeout_s=10) as (
        hub,
        nursery,
    ):
        slow = [await trickling(hub, nursery) for _ in range(3)]
        started = trio.current_time()
        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(hub.handle_stream, server_stream)
        status, headers, body = split_response(await read_all(client_stream))
        assert trio.current_time() - started < 1  # not after the slow ones time out
        assert status == 429
        assert headers[b"retry-after"] == b"1"
        assert headers[b"content-length"] == str(len(body)).encode()
        assert orjson.loads(body) == {
            "error": {
                "code": "RATE_LIMITED",
                "message": "too many handshakes in progress from this address; retry in 1 s",
            }
        }
        assert hub.stats.handshakes_rejected[429] == 1
        # the slow ones time out and are closed; their slots come back
        for stream in slow:
            assert await read_all(stream) == b""
        client = await open_raw(hub, nursery, "alice")
        assert client.established["user_id"] == "alice"
        # a completed handshake holds no slot: three more slow ones fit beside it
        for _ in range(3):
            await trickling(hub, nursery)
        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(hub.handle_stream, server_stream)
        assert split_response(await read_all(client_stream))[0] == 429


async def refusal(hub: Hub, nursery: trio.Nursery, user: str) -> RejectConnection:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(hub.handle_stream, server_stream)
    client = RawClient(client_stream)
    await client.send_request(token_for(user))
    refused, body = await client.rejection()
    assert "retry in 0" not in body["error"]["message"]
    return refused


async def test_every_429_and_503_of_the_hub_says_when_to_retry_in_whole_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = {"max_connections_per_user": 1, "handshake_burst": 2, "handshake_rate_per_s": 0.01}
    async with running_hub(**limits) as (hub, nursery):
        await open_raw(hub, nursery, "alice")
        too_many = await refusal(hub, nursery, "alice")  # TOO_MANY_CONNECTIONS
        assert too_many.status_code == 429
        assert dict(too_many.headers)[b"retry-after"] == b"1"
        rate = await refusal(hub, nursery, "bob")  # the third handshake: RATE_LIMITED
        assert rate.status_code == 429
        assert int(dict(rate.headers)[b"retry-after"]) >= 1
    async with running_hub() as (hub, nursery):
        hub.begin_shutdown()
        shutting_down = await refusal(hub, nursery, "alice")  # SHUTTING_DOWN
        assert shutting_down.status_code == 503
        assert dict(shutting_down.headers)[b"retry-after"] == b"1"


async def test_a_plain_request_to_the_endpoint_is_refused_as_an_upgrade(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub() as (hub, nursery):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(hub.handle_stream, server_stream)
        await client_stream.send_all(b"GET /ws HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = split_response(await read_all(client_stream))
        assert status == 400
        assert b"Upgrade" in body  # the reason names the missing header
        accepted = await open_raw(hub, nursery, "alice")  # and upgrades go on as before
        assert accepted.established["user_id"] == "alice"
