"""WebSocket control frames spend the connection's message budget: a client
that floods pings (or unsolicited pongs) as fast as its socket takes them is
warned with RATE_LIMITED, then closed with 1008, while another user's
connection keeps being answered.

The flooding client is wsproto on a loopback socket, so it sends control
frames as fast as the kernel takes them and reads what the server answers."""

from __future__ import annotations

from collections import Counter

import attrs
import orjson
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, assert_alive, connect
from tests.helpers import token_for

pytestmark = pytest.mark.e2e

RATE = {"message_rate_per_s": 20.0, "message_burst": 60, "abuse_limit": 20}
FRAMES_PER_WRITE = 256


@attrs.define
class FloodOutcome:
    close_code: int | None = None
    pongs: int = 0
    errors: Counter[str] = attrs.Factory(Counter)
    texts_after_error: list[str] = attrs.Factory(list)
    bytes_sent: int = 0


async def flood(server: Server, user: str, control: Ping | Pong) -> FloodOutcome:
    """Send ``control`` frames as fast as the socket takes them until the
    server closes the connection; what the server answered meanwhile."""
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    ws = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host="127.0.0.1",
        target="/ws",
        extra_headers=[(b"authorization", f"Bearer {token_for(user)}".encode())],
    )
    await stream.send_all(ws.send(request))
    outcome = FloodOutcome()
    accepted = trio.Event()
    closed = trio.Event()
    send_lock = trio.Lock()

    async def read() -> None:
        while not closed.is_set():
            data = await stream.receive_some(65536)
            ws.receive_data(data or None)
            if not data:
                closed.set()
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    accepted.set()
                elif isinstance(event, Pong):
                    outcome.pongs += 1
                elif isinstance(event, TextMessage):
                    frame = orjson.loads(event.data)
                    if frame["type"] == "error":
                        outcome.errors[frame["payload"]["code"]] += 1
                    elif outcome.errors:
                        outcome.texts_after_error.append(frame["type"])
                elif isinstance(event, CloseConnection):
                    outcome.close_code = event.code
                    closed.set()
                    async with send_lock:
                        await stream.send_all(ws.send(event.response()))

    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await accepted.wait()
        # Made once, sent over and over: raw bytes, so a close read meanwhile
        # does not make wsproto refuse them.
        chunk = b"".join(ws.send(control) for _ in range(FRAMES_PER_WRITE))
        while not closed.is_set():
            async with send_lock:
                if closed.is_set():
                    break
                try:
                    await stream.send_all(chunk)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break
            outcome.bytes_sent += len(chunk)
            await trio.lowlevel.checkpoint()
        with trio.move_on_after(WAIT_S):
            await closed.wait()
        nursery.cancel_scope.cancel()
    return outcome


async def keep_pinging(client: NetraClient, done: trio.Event, answered: list[float]) -> None:
    """JSON pings at half the message rate until ``done``; each is answered."""
    n = 0
    while not done.is_set():
        n += 1
        started = trio.current_time()
        reply = await client.request("ping", {"n": n}, message_id=f"good-{n}")
        assert reply["type"] == "pong", reply
        answered.append(trio.current_time() - started)
        await trio.sleep(0.1)


@pytest.mark.parametrize("control", [Ping(payload=b"p" * 16), Pong(payload=b"q" * 16)])
@pytest.mark.netra_options(**RATE)
async def test_a_control_frame_flood_is_warned_then_closed_while_others_are_served(
    server: Server, control: Ping | Pong
) -> None:
    answered: list[float] = []
    done = trio.Event()
    async with connect(server, "alice") as alice:
        with trio.fail_after(3 * WAIT_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep_pinging, alice, done, answered)
                outcome = await flood(server, "mallory", control)
                done.set()
        await assert_alive(alice)
    assert outcome.close_code == 1008
    # warned first, once per refused frame, as for text frames: the last refusal closes
    assert outcome.errors == Counter({"RATE_LIMITED": RATE["abuse_limit"]})
    assert outcome.bytes_sent > 0
    if isinstance(control, Ping):  # only the pings within the budget were answered
        assert 1 <= outcome.pongs <= RATE["message_burst"] + 5
    else:
        assert outcome.pongs == 0
    assert answered, "alice was not answered while the flood went on"
    assert server.hub.stats.closes_by_code[1008] == 1
    assert server.hub.stats.rate_limited == RATE["abuse_limit"]


@pytest.mark.netra_options(message_rate_per_s=0.001, message_burst=50, abuse_limit=20)
async def test_pings_within_the_budget_are_answered_and_cost_like_text_frames(
    server: Server,
) -> None:
    async with connect(server, "alice") as alice:
        for n in range(46):  # text frames spend the same budget
            assert (await alice.request("ping", {"n": n}))["type"] == "pong"
        with trio.fail_after(WAIT_S):
            for _ in range(4):  # the websocket's own pings: answered (trio-websocket waits)
                await alice.ws.ping()
        reply = await alice.request("ping", {"n": "over"}, message_id="over")
        assert reply["type"] == "error" and reply["payload"]["code"] == "RATE_LIMITED", reply
        assert server.hub.stats.rate_limited == 1


@pytest.mark.netra_options(message_rate_per_s=0.001, message_burst=50, abuse_limit=20)
async def test_binary_frames_spend_the_budget_too(server: Server) -> None:
    async with connect(server, "alice") as alice:
        codes = []
        for _ in range(51):
            await alice.send_raw(b"\x00binary")
            codes.append((await alice.receive_type("error"))["payload"]["code"])
        assert codes == ["INVALID_MESSAGE"] * 50 + ["RATE_LIMITED"]
