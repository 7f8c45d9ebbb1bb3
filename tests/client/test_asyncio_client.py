"""The asyncio client (on websockets) against a real server run as a
subprocess: the same API as the Trio client, resume across a graceful
restart and a kill -9 on the same port and database, token refresh, typed
errors."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from netra_trio.client import (
    ConnectFailed,
    ConnectionClosed,
    HandshakeRejected,
    MalformedFrame,
    ProtocolError,
    ReconnectPolicy,
    RequestTimeout,
    ServerFrame,
    TokenUnavailable,
)
from netra_trio.client.asyncio import AsyncioClient, connect
from netra_trio.protocol import client_messages as cm
from netra_trio.protocol import server_messages as sm
from tests.client.peer import (
    Script,
    established,
    event,
    frame,
    peer_in_a_thread,
    served_in_a_thread,
)
from tests.client.server_process import ServerProcess
from tests.helpers import token_for
from tests.relay import Relay
from tests.signing_keys import self_signed_certificate

pytestmark = pytest.mark.e2e

QUESTION = "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens"
QUICK = ReconnectPolicy(initial_delay_s=0.05, max_delay_s=0.2)
AGENTS = ("--agents", "tests.client.agents:AGENTS")
WAIT_S = 60.0


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(WAIT_S):
            await body()

    asyncio.run(bounded())


async def until(client: AsyncioClient, stream: object, seq: int) -> list[ServerFrame]:
    seen: list[ServerFrame] = []
    async for item in stream:  # type: ignore[attr-defined]
        seen.append(item)
        if item.seq == seq:
            return seen
    raise AssertionError(f"the stream ended before seq {seq}")  # pragma: no cover


def test_requests_runs_and_errors(tmp_path: Path) -> None:
    async def body() -> None:
        async with ServerProcess(tmp_path) as server:
            url = server.url.removesuffix("/ws")  # no path: the endpoint
            async with connect(url, token_for("alice")) as client:
                assert client.established.user_id == "alice"
                pong = await client.request(cm.Ping(payload={"n": 1}))
                assert pong.type == "pong" and pong.payload["n"] == 1  # type: ignore[index]
                with pytest.raises(ProtocolError) as refused:
                    await client.request(
                        cm.GetThreadHistory(payload=cm.ThreadHistoryPayload(thread_id="none"))
                    )
                assert refused.value.code == "NOT_FOUND"
                stream = client.events()
                events = [e async for e in client.run(QUESTION, agent="triage")]
                assert isinstance(events[0].payload, sm.AgentStarted)
                assert events[-1].type == "agent_completed"
                assert await until(client, stream, events[-1].seq or 0) == events
                await client.send(cm.TypingStarted())
                with pytest.raises(RequestTimeout):
                    await client.request(cm.Ping(), timeout_s=0)  # no time to answer
            with pytest.raises(ConnectionClosed) as closed:
                await client.request(cm.Heartbeat())
            assert closed.value.code == 1000

    run(body)


def test_refused_and_failed_connections_raise_typed_errors(tmp_path: Path) -> None:
    async def body() -> None:
        async with ServerProcess(tmp_path) as server:
            with pytest.raises(HandshakeRejected) as refused:
                async with connect(server.url, token_for("alice", -10)):
                    pass  # pragma: no cover - refused
            assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
            with pytest.raises(HandshakeRejected) as missing:
                async with connect(server.url.replace("/ws", "/nowhere"), token_for("a")):
                    pass  # pragma: no cover - refused
            assert missing.value.status == 404
        with pytest.raises(ConnectFailed, match="cannot connect"):
            async with connect(server.url, token_for("alice")):
                pass  # pragma: no cover - nothing listens

    run(body)


def test_a_peer_that_never_answers_the_handshake_times_out() -> None:
    async def body() -> None:
        held: list[asyncio.StreamWriter] = []

        async def stay_silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)

        server = await asyncio.start_server(stay_silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(ConnectFailed, match=r"took over 0\.3 s"):
                async with connect(f"ws://127.0.0.1:{port}", token_for("a"), connect_timeout_s=0.3):
                    pass  # pragma: no cover - never opened
        finally:
            for writer in held:
                writer.close()
            server.close()
            await server.wait_closed()

    run(body)


def test_each_seq_once_in_order_across_a_restart_mid_run_and_a_kill_between_runs(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with ServerProcess(tmp_path, *AGENTS, NETRA_SHUTDOWN_GRACE_S="0.2") as server:
            async with connect(server.url, token_for("alice"), reconnect=QUICK) as client:
                stream = client.events()
                run_ = client.run("pace yourself", agent="paced")
                before = [await anext(run_) for _ in range(3)]
                await server.stop()  # 1001, the run is interrupted
                await server.start()
                after = [e async for e in run_]
                second = [e async for e in client.run(QUESTION, agent="triage")]
                await server.kill()  # no close frame
                await server.start()
                third = [e async for e in client.run(QUESTION)]
                seen = await until(client, stream, third[-1].seq or 0)
                assert client.connections >= 3
            async with connect(server.url, token_for("alice"), last_seq=0) as reader:
                stored = await until(reader, reader.events(), third[-1].seq or 0)
        assert isinstance(after[-1].payload, sm.AgentError)
        assert after[-1].payload.code == "INTERRUPTED"
        assert {e.run_id for e in before + after} == {before[0].run_id}
        assert second[-1].type == third[-1].type == "agent_completed"
        assert [e.seq for e in seen] == [e.seq for e in stored]
        assert [e.seq for e in before + after + second + third] == [e.seq for e in stored]

    run(body)


def test_a_connection_that_outlives_its_tokens_by_refreshing(tmp_path: Path) -> None:
    calls: list[str] = []

    async def provide() -> str:
        await asyncio.sleep(0)
        calls.append(token_for("alice", 3.0))
        return calls[-1]

    async def body() -> None:
        async with ServerProcess(tmp_path) as server:
            async with connect(server.url, provide) as client:
                await asyncio.sleep(4.0)  # past the first token's exp
                assert await client.request(cm.Heartbeat())
                assert client.connections == 1
            async with connect(server.url, token_for("alice", 2.0)) as plain:
                with pytest.raises(ConnectionClosed) as closed:
                    await anext(plain.events())
                assert closed.value.code == 1008
        assert len(calls) >= 3

    run(body)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"request_timeout_s": 0}, "request_timeout_s must be positive"),
        ({"connect_timeout_s": 0}, "connect_timeout_s must be positive"),
        ({"keepalive_s": -1}, "keepalive_s must be positive or None"),
    ],
)
def test_options_that_cannot_work_are_refused(options: dict[str, float], reason: str) -> None:
    async def body() -> None:
        with pytest.raises(ValueError, match=reason):
            async with connect("ws://127.0.0.1:9", "t", **options):  # type: ignore[arg-type]
                pass  # pragma: no cover - refused

    run(body)


def test_wss_with_a_trusted_certificate_and_not_without(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def body() -> None:
        tls = {"NETRA_TLS_CERT": str(cert), "NETRA_TLS_KEY": str(key)}
        async with ServerProcess(tmp_path, **tls) as server:
            url = f"wss://localhost:{server.port}"
            async with connect(url, token_for("alice"), ssl_context=trusting) as client:
                assert (await client.request(cm.Heartbeat())).type == "heartbeat_ack"
            with pytest.raises(ConnectFailed, match="cannot connect"):
                async with connect(url, token_for("alice")):
                    pass  # pragma: no cover - the certificate is not trusted

    run(body)


def test_what_the_netra_server_never_sends() -> None:
    resumed = frame("resume_complete", {"replayed": 1, "gap": True})
    replay = Script([established(), event(1), event(2), resumed, event(3, "agent_completed")])
    with peer_in_a_thread(Script([established(), event(1)], close=1011), replay) as peer:

        async def body() -> None:
            async with connect(peer.url, token_for("alice"), reconnect=QUICK) as client:
                seen = await until(client, client.events(), 3)
                assert [e.seq for e in seen] == [1, 2, 3]
                assert client.gaps == 1

        run(body)
    assert orjson.loads(peer.connections[1].frames[0])["payload"] == {"last_seq": 1}


@pytest.mark.parametrize(
    ("scripts", "error", "reason"),
    [
        ([Script([frame("hello")])], MalformedFrame, "expected connection_established"),
        ([Script([established(), "not json"])], MalformedFrame, "not JSON"),
        (
            [Script([established("alice")], close=1011), Script([established("bob")])],
            TokenUnavailable,
            "another user",
        ),
        ([Script([established()], close=1000)], ConnectionClosed, "closed with 1000"),
    ],
)
def test_a_peer_that_breaks_the_protocol_ends_the_client(
    scripts: list[Script], error: type[Exception], reason: str
) -> None:
    with peer_in_a_thread(*scripts) as peer:

        async def body() -> None:
            with pytest.raises(error, match=reason):
                async with connect(peer.url, token_for("alice"), reconnect=QUICK) as client:
                    await anext(client.events())

        run(body)


def test_a_connection_that_stops_answering_is_given_up_and_opened_again(tmp_path: Path) -> None:
    async def body() -> None:
        async with ServerProcess(tmp_path) as server:
            relay = Relay(server.port)
            with served_in_a_thread(relay) as call:
                url = relay.url
                async with connect(
                    url, token_for("alice"), reconnect=QUICK, keepalive_s=0.3
                ) as client:
                    stream = client.events()
                    call(relay.freeze)  # the network stops delivering; nothing is closed
                    async with connect(server.url, token_for("alice")) as other:
                        events = [e async for e in other.run(QUESTION, agent="triage")]
                    seen = await until(client, stream, events[-1].seq or 0)
                    assert client.connections >= 2  # (a busy machine may give up more)
        assert seen == events

    run(body)
