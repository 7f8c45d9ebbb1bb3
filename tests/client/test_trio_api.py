"""The Trio client against a real server on loopback: connecting, typed
replies and errors, runs, the event stream, and closing."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from netra_trio.client import (
    BacklogFull,
    ConnectFailed,
    ConnectionClosed,
    HandshakeRejected,
    ProtocolError,
    RequestTimeout,
    ServerFrame,
    TokenUnavailable,
    connect,
    open_client,
)
from netra_trio.protocol import client_messages as cm
from netra_trio.protocol import server_messages as sm
from netra_trio.server.app import Server
from tests.client.support import WAIT_S
from tests.helpers import agents_with, start_server, token_for, waiting_agent
from tests.signing_keys import self_signed_certificate

pytestmark = pytest.mark.e2e

QUESTION = "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens"


async def test_a_url_without_path_connects_to_the_endpoint(server: Server) -> None:
    url = f"ws://127.0.0.1:{server.port}"
    with trio.fail_after(WAIT_S):
        async with connect(url, token_for("alice")) as client:
            assert client.connected
            assert client.established.user_id == "alice"
            assert client.session_id == client.established.session_id
            assert client.connections == 1
            assert client.last_seq is None
            reply = await client.request(cm.Ping(payload={"n": 1}))
    assert reply.type == "pong"
    assert reply.payload["n"] == 1  # type: ignore[index]
    assert reply.correlation_id is not None


async def test_replies_are_typed_and_correlated(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            ack = await client.request(cm.Heartbeat(message_id="mine-1"))
            threads = await client.request(cm.ListThreads())
            state = await client.request(
                cm.SessionUpdate(payload=cm.SessionUpdatePayload(data={"k": 1}))
            )
    assert ack.payload == sm.HeartbeatAck(status="healthy")
    assert ack.correlation_id == "mine-1"
    assert threads.payload == sm.Threads(threads=[])
    assert isinstance(state.payload, sm.SessionState)
    assert state.payload.data == {"k": 1}


async def test_an_error_reply_raises_with_the_protocols_code(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            with pytest.raises(ProtocolError) as refused:
                await client.request(
                    cm.GetThreadHistory(payload=cm.ThreadHistoryPayload(thread_id="t-none"))
                )
            assert client.connected  # the connection stays open after an error
    assert refused.value.code == "NOT_FOUND"
    assert refused.value.correlation_id is not None


async def test_a_request_without_a_reply_times_out(nursery: trio.Nursery) -> None:
    gate = trio.Event()
    server = await start_server(nursery, agents=agents_with(waiting=waiting_agent(gate)))
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            events = client.run("wait", agent="waiting")
            started = await events.__anext__()
            assert started.run_id is not None
            stop = cm.StopAgent(payload=cm.StopAgentPayload(run_id=started.run_id))
            with pytest.raises(RequestTimeout):
                await client.request(stop, timeout_s=0.3)  # stop_agent has no reply
            rest = [event.type async for event in events]
    assert rest[-1] == "agent_completed"
    server.request_shutdown()


async def test_a_run_yields_its_events_up_to_its_terminal_event(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            events = [event async for event in client.run(QUESTION)]
            assert client.last_seq == events[-1].seq
    assert events[0].type == "agent_started"
    assert isinstance(events[-1].payload, sm.AgentCompleted)
    assert events[-1].is_terminal
    assert sum(e.is_terminal for e in events) == 1
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({e.run_id for e in events}) == 1
    assert any(isinstance(e.payload, sm.ToolExecuting) for e in events)


async def test_a_named_agent_runs_on_the_given_thread(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            first = [e async for e in client.run(QUESTION, agent="triage")]
            thread_id = first[0].thread_id
            second = [
                e async for e in client.run("and latency?", agent="triage", thread_id=thread_id)
            ]
    assert first[0].payload == sm.AgentStarted(agent_name="triage", input_preview=QUESTION)
    assert {e.thread_id for e in first + second} == {thread_id}
    assert first[-1].run_id != second[-1].run_id


async def test_a_refused_run_raises_with_the_details(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            with pytest.raises(ProtocolError) as refused:
                async for _ in client.run("hi", agent="nobody"):
                    pass  # pragma: no cover - refused before any event
    assert refused.value.code == "NOT_FOUND"
    assert refused.value.details is not None
    assert "supervisor" in refused.value.details["agents"]


async def test_the_event_stream_sees_runs_of_the_users_other_connections(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            stream = client.events()
            async with open_client(server.url, token_for("alice")) as other:
                await other.send("start_agent", {"agent": "triage", "input": QUESTION})
            seen: list[ServerFrame] = []
            async for event in stream:
                seen.append(event)
                if event.is_terminal:
                    break
            stream.close()
    assert seen[0].type == "agent_started"
    assert seen[-1].type == "agent_completed"
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))


async def test_an_event_stream_that_is_not_read_ends_when_it_holds_too_much(
    server: Server,
) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice"), max_buffered_events=2) as client:
            stream = client.events()
            events = [e async for e in client.run(QUESTION, agent="triage")]
            assert len(events) > 3
            assert [await stream.__anext__(), await stream.__anext__()] == events[:2]
            with pytest.raises(BacklogFull, match="more than 2 events"):
                await stream.__anext__()
            assert client.connected  # the client goes on
            assert await client.request(cm.Heartbeat())


async def test_closing_the_client_ends_its_iterators(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            stream = client.events()

            async def read_all() -> list[ServerFrame]:
                return [event async for event in stream]

            seen: list[list[ServerFrame]] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: _collect(read_all, seen))
                await trio.sleep(0.05)
                await client.aclose()
        assert seen == [[]]
        with pytest.raises(ConnectionClosed) as closed:
            await client.request(cm.Heartbeat())
    assert closed.value.code == 1000


async def _collect(read: object, into: list[list[ServerFrame]]) -> None:
    into.append(await read())  # type: ignore[operator]


async def test_a_frame_over_the_servers_limit_is_refused_before_sending(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, max_message_bytes=1024)
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            with pytest.raises(ValueError, match="over the server's limit of 1024"):
                await client.request(cm.Ping(payload={"pad": "x" * 2000}))
            assert client.connected
    server.request_shutdown()


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (lambda: token_for("alice", -10), 401, "UNAUTHORIZED"),
        (lambda: "not-a-token", 401, "UNAUTHORIZED"),
    ],
)
async def test_a_refused_handshake_raises_with_status_and_code(
    server: Server, token: object, status: int, code: str
) -> None:
    with trio.fail_after(WAIT_S), pytest.raises(HandshakeRejected) as refused:
        async with connect(server.url, token()):  # type: ignore[operator]
            pass  # pragma: no cover - refused
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.retry_after_s is None


async def test_a_user_at_the_connection_limit_is_told_when_to_come_back(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, max_connections_per_user=1)
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")):
            with pytest.raises(HandshakeRejected) as refused:
                async with connect(server.url, token_for("alice")):
                    pass  # pragma: no cover - refused
    assert (refused.value.status, refused.value.code) == (429, "TOO_MANY_CONNECTIONS")
    assert refused.value.retry_after_s == 1.0
    server.request_shutdown()


async def test_a_wrong_path_is_refused_with_404(server: Server) -> None:
    with trio.fail_after(WAIT_S), pytest.raises(HandshakeRejected) as refused:
        async with connect(f"ws://127.0.0.1:{server.port}/other", token_for("alice")):
            pass  # pragma: no cover - refused
    assert (refused.value.status, refused.value.code) == (404, "NOT_FOUND")


async def test_nothing_listening_raises_connect_failed() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with trio.fail_after(WAIT_S), pytest.raises(ConnectFailed, match="cannot connect") as failed:
        async with connect(f"ws://127.0.0.1:{port}", token_for("alice")):
            pass  # pragma: no cover - nothing listens
    assert isinstance(failed.value.__cause__, OSError)


async def test_a_peer_that_never_answers_the_handshake_times_out(nursery: trio.Nursery) -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    held: list[trio.SocketStream] = []

    async def accept_and_stay_silent() -> None:
        async with listener:
            while True:
                held.append(await listener.accept())

    nursery.start_soon(accept_and_stay_silent)
    with trio.fail_after(WAIT_S), pytest.raises(ConnectFailed, match=r"took over 0\.3 s"):
        async with connect(f"ws://127.0.0.1:{port}", token_for("a"), connect_timeout_s=0.3):
            pass  # pragma: no cover - never opened
    for stream in held:
        await stream.aclose()
    nursery.cancel_scope.cancel()


async def test_tokens_come_from_a_sync_or_async_provider(server: Server) -> None:
    async def later() -> str:
        await trio.lowlevel.checkpoint()
        return token_for("alice")

    with trio.fail_after(WAIT_S):
        async with connect(server.url, lambda: token_for("alice")) as client:
            assert client.established.user_id == "alice"
        async with connect(server.url, later) as client:
            assert client.established.user_id == "alice"


@pytest.mark.parametrize("provider", [lambda: 1 / 0, lambda: None, lambda: ""])
async def test_a_provider_that_gives_no_token_raises_token_unavailable(
    server: Server, provider: object
) -> None:
    with trio.fail_after(WAIT_S), pytest.raises(TokenUnavailable, match="token provider"):
        async with connect(server.url, provider):  # type: ignore[arg-type]
            pass  # pragma: no cover - no token


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"request_timeout_s": 0}, "request_timeout_s must be positive"),
        ({"connect_timeout_s": -1}, "connect_timeout_s must be positive"),
        ({"keepalive_s": 0}, "keepalive_s must be positive or None"),
        ({"max_buffered_events": 0}, "max_buffered_events must be at least 1"),
        ({"last_seq": -5}, "last_seq must be None or at least 0"),
    ],
)
async def test_options_that_cannot_work_are_refused(
    options: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        async with connect("ws://127.0.0.1:9", "t", **options):  # type: ignore[arg-type]
            pass  # pragma: no cover - refused


async def test_an_exception_in_the_block_comes_out_as_itself(server: Server) -> None:
    class Oops(Exception):
        pass

    cause = KeyError("why")
    with trio.fail_after(WAIT_S), pytest.raises(Oops) as raised:
        async with connect(server.url, token_for("alice")):
            raise Oops() from cause
    assert raised.value.__cause__ is cause


async def test_closing_fails_a_request_that_waits_for_its_reply(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, agents=agents_with(waiting=waiting_agent()))
    codes: list[int] = []
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            stream = client.events()
            started = await client.run("wait", agent="waiting").__anext__()
            stop = cm.StopAgent(payload=cm.StopAgentPayload(run_id=started.run_id or ""))

            async def stop_it() -> None:
                with pytest.raises(ConnectionClosed) as closed:
                    await client.request(stop)  # stop_agent has no reply
                codes.append(closed.value.code)

            async with trio.open_nursery() as waiting:
                waiting.start_soon(stop_it)
                async for event in stream:  # the server handled the stop
                    if event.type == "agent_completed":
                        break
                await client.aclose()
    assert codes == [1000]
    server.request_shutdown()


async def test_closing_ends_a_run_that_has_not_ended_quietly(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, agents=agents_with(waiting=waiting_agent()))
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as client:
            stream = client.events()
            run = client.run("wait", agent="waiting")
            assert (await run.__anext__()).type == "agent_started"
            async for event in stream:
                if event.type == "tool_executing":
                    break
            await client.aclose()
            rest = [e.type async for e in run]
    assert rest == ["agent_thinking", "tool_executing"]  # what had arrived, then the end
    server.request_shutdown()


async def test_wss_with_a_trusted_certificate_and_not_without(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = await start_server(nursery, tls_cert=str(cert), tls_key=str(key))
    trusting = ssl.create_default_context(cafile=str(cert))
    url = f"wss://localhost:{server.port}"
    with trio.fail_after(WAIT_S):
        async with connect(url, token_for("alice"), ssl_context=trusting) as client:
            assert (await client.request(cm.Heartbeat())).type == "heartbeat_ack"
        with pytest.raises(ConnectFailed, match="cannot connect"):
            async with connect(url, token_for("alice")):
                pass  # pragma: no cover - the certificate is not trusted
    server.request_shutdown()
