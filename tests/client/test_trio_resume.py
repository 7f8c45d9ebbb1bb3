"""The Trio client reconnects and resumes by itself: each seq reaches the
caller once, in order, across server restarts on the same port and SQLite
database and across closes of every kind; it gives up when the close says
so, or when its attempts run out."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from netra_trio.client import (
    ConnectFailed,
    ConnectionClosed,
    ConnectionLost,
    ProtocolError,
    ReconnectPolicy,
    RequestTimeout,
    ServerFrame,
    connect,
    open_client,
)
from netra_trio.protocol import client_messages as cm
from netra_trio.protocol import server_messages as sm
from netra_trio.server.app import Server
from tests.client.support import WAIT_S, RestartableServer, stored_seqs
from tests.helpers import agents_with, start_server, token_for, waiting_agent
from tests.relay import Relay

pytestmark = pytest.mark.e2e

QUESTION = "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens"
QUICK = ReconnectPolicy(initial_delay_s=0.05, max_delay_s=0.2)


async def until(stream: object, seq: int) -> list[ServerFrame]:
    """Events of ``stream`` up to and including ``seq``."""
    seen: list[ServerFrame] = []
    async for event in stream:  # type: ignore[attr-defined]
        seen.append(event)
        if event.seq == seq:
            return seen
    raise AssertionError(f"the stream ended before seq {seq}")  # pragma: no cover


async def wait_disconnected(client: object) -> None:
    """Until the client has no connection (for a server that stays down)."""
    with trio.fail_after(WAIT_S):
        while client.connected:  # type: ignore[attr-defined]  # noqa: ASYNC110 - client state
            await trio.sleep(0.005)


async def wait_reconnected(client: object, connections: int) -> None:
    """Until the client has established ``connections`` in all; a reconnect
    may follow the close sooner than any look at ``connected`` would see it."""
    with trio.fail_after(WAIT_S):
        while client.connections < connections:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await trio.sleep(0.005)


async def test_each_seq_reaches_the_caller_once_in_order_across_server_restarts(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    seat = RestartableServer(
        nursery,
        database=str(tmp_path / "netra.db"),
        agents=agents_with(waiting=waiting_agent()),  # waits in its tool call for ever
        shutdown_grace_s=0.2,
    )
    await seat.start()
    with trio.fail_after(60):
        async with connect(seat.url, token_for("alice"), reconnect=QUICK) as client:
            stream = client.events()
            # a restart in the middle of a run: the run is interrupted, and
            # the resume delivers how it ended
            run = client.run("wait", agent="waiting")
            before = [await run.__anext__() for _ in range(3)]
            assert [e.type for e in before] == ["agent_started", "agent_thinking", "tool_executing"]
            await seat.restart()
            after = [event async for event in run]
            # a restart between runs
            second = [event async for event in client.run(QUESTION, agent="triage")]
            await seat.restart()
            third = [event async for event in client.run(QUESTION)]
            seen = await until(stream, third[-1].seq or 0)
            assert client.connections >= 3
            assert client.session_id == client.established.session_id
        stored = await stored_seqs(seat.url, "alice")
    assert [e.type for e in after] == ["tool_completed", "agent_error"]
    assert isinstance(after[-1].payload, sm.AgentError)
    assert after[-1].payload.code == "INTERRUPTED"
    assert {e.run_id for e in before + after} == {before[0].run_id}
    assert second[-1].type == third[-1].type == "agent_completed"
    assert [e.seq for e in seen] == stored
    assert [e.seq for e in before + after + second + third] == stored
    await seat.stop()


async def test_the_session_is_resumed_across_a_restart(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    seat = RestartableServer(nursery, database=str(tmp_path / "netra.db"))
    await seat.start()
    with trio.fail_after(WAIT_S):
        async with connect(seat.url, token_for("alice"), reconnect=QUICK) as client:
            update = cm.SessionUpdate(payload=cm.SessionUpdatePayload(data={"draft": "hi"}))
            await client.request(update)
            session_id = client.session_id
            await seat.restart()
            state = await client.request(cm.SessionGet())
    assert client.established.resumed
    assert state.payload == sm.SessionState(session_id=session_id or "", data={"draft": "hi"})
    await seat.stop()


async def test_a_client_that_saw_no_event_gets_what_it_missed_and_nothing_older(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gate = trio.Event()
    seat = RestartableServer(
        nursery,
        database=str(tmp_path / "netra.db"),
        agents=agents_with(waiting=waiting_agent(gate)),
    )
    await seat.start()
    with trio.fail_after(WAIT_S):
        async with open_client(seat.url, token_for("alice")) as other:
            await other.send("start_agent", {"agent": "waiting", "input": "x"})
            await other.receive_type("tool_executing")  # seq 1 to 3: before the client
        async with connect(seat.url, token_for("alice"), reconnect=QUICK) as client:
            stream = client.events()
            seat.server.request_shutdown()
            await wait_disconnected(client)
            gate.set()  # the run ends while the client is away (seq 4 and 5)
            await seat.stop()
            await seat.start()
            seen = await until(stream, 5)
            assert client.last_seq == 5
    assert [(e.seq, e.type) for e in seen] == [(4, "tool_completed"), (5, "agent_completed")]
    assert await stored_seqs(seat.url, "alice") == [1, 2, 3, 4, 5]
    await seat.stop()


async def test_a_later_client_goes_on_from_the_last_seq_of_an_earlier_one(
    server: Server,
) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice")) as first:
            [e async for e in first.run(QUESTION, agent="triage")]
            kept = first.last_seq
        async with connect(server.url, token_for("alice")) as other:
            missed = [e async for e in other.run(QUESTION, agent="triage")]
        async with connect(server.url, token_for("alice"), last_seq=kept) as later:
            replayed = await until(later.events(), missed[-1].seq or 0)
    assert replayed == missed


def close_connection(server: Server, client: object, code: int, reason: str) -> None:
    """Close the client's connection on the server with ``code``."""
    connection_id = client.established.connection_id  # type: ignore[attr-defined]
    for connection in server.hub.users["alice"].connections:
        if connection.connection_id == connection_id:
            connection.close(code, reason, drain=True)


@pytest.mark.parametrize(("code", "reason"), [(4008, "slow"), (4009, "evicted"), (1011, "oops")])
async def test_a_connection_closed_for_a_passing_reason_is_reopened(
    server: Server, code: int, reason: str
) -> None:
    with trio.fail_after(WAIT_S):
        # another connection of the user keeps the user's hub on the server
        async with (
            open_client(server.url, token_for("alice")),
            connect(server.url, token_for("alice"), reconnect=QUICK) as client,
        ):
            session_id = client.session_id
            close_connection(server, client, code, reason)
            await wait_reconnected(client, 2)
            events = [e async for e in client.run(QUESTION, agent="triage")]
    assert client.connections == 2
    assert client.session_id == session_id
    assert client.established.resumed
    assert events[-1].type == "agent_completed"


async def test_an_expired_session_is_replaced_by_a_new_one(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with (
            open_client(server.url, token_for("alice")),
            connect(server.url, token_for("alice"), reconnect=QUICK) as client,
        ):
            first_session = client.session_id
            close_connection(server, client, 4001, "idle timeout")
            await wait_reconnected(client, 2)
            await client.request(cm.Heartbeat())
    assert client.connections == 2
    assert client.session_id != first_session
    assert not client.established.resumed


@pytest.mark.parametrize("code", [1000, 1009])
async def test_a_close_that_a_new_connection_would_repeat_ends_the_client(
    server: Server, code: int
) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice"), reconnect=QUICK) as client:
            stream = client.events()
            close_connection(server, client, code, "done")
            with pytest.raises(ConnectionClosed) as closed:
                await stream.__anext__()
            with pytest.raises(ConnectionClosed):
                await client.request(cm.Heartbeat())
            with pytest.raises(ConnectionClosed):
                await client.send(cm.Heartbeat())
    assert (closed.value.code, closed.value.reason) == (code, "done")
    assert client.connections == 1


async def test_repeated_security_violations_end_the_client_with_1008(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice"), reconnect=QUICK) as client:
            stream = client.events()
            for _ in range(5):
                with pytest.raises(ProtocolError) as refused:
                    await client.request(cm.Ping(user_id="bob"))
                assert refused.value.code == "FORBIDDEN"
            with pytest.raises(ConnectionClosed) as closed:
                await stream.__anext__()
    assert closed.value.code == 1008
    assert client.connections == 1


async def test_the_client_gives_up_when_its_attempts_run_out(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    seat = RestartableServer(nursery, database=str(tmp_path / "netra.db"))
    await seat.start()
    policy = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05, max_attempts=2)
    with trio.fail_after(WAIT_S):
        async with connect(seat.url, token_for("alice"), reconnect=policy) as client:
            stream = client.events()
            await seat.stop()
            with pytest.raises(ConnectFailed, match="cannot connect"):
                await stream.__anext__()


async def test_a_request_waiting_for_its_reply_when_the_connection_drops_is_lost(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, agents=agents_with(waiting=waiting_agent()))
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice"), reconnect=QUICK) as client:
            stream = client.events()
            run = client.run("wait", agent="waiting")
            started = await run.__anext__()
            assert started.run_id is not None
            lost: list[BaseException] = []

            async def stop_it() -> None:
                try:
                    await client.request(
                        cm.StopAgent(payload=cm.StopAgentPayload(run_id=started.run_id or ""))
                    )
                except ConnectionLost as exc:
                    lost.append(exc)

            async with trio.open_nursery() as waiting:
                waiting.start_soon(stop_it)
                # the server handled the stop (the run ends); its request still waits
                async for event in stream:
                    if event.type == "agent_completed":
                        break
                server.hub.users["alice"].close_all(4009, "evicted")
            rest = [e.type async for e in run]
    assert len(lost) == 1
    assert rest[-1] == "agent_completed"  # the run itself goes on across the reconnect
    server.request_shutdown()


async def test_a_run_asked_for_while_reconnecting_starts_on_the_next_connection(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    seat = RestartableServer(nursery, database=str(tmp_path / "netra.db"))
    await seat.start()
    with trio.fail_after(WAIT_S):
        async with connect(seat.url, token_for("alice"), reconnect=QUICK) as client:
            await seat.stop()
            await wait_disconnected(client)
            with pytest.raises(RequestTimeout, match="no connection to send on"):
                await client.send(cm.Heartbeat(), timeout_s=0.05)
            events: list[ServerFrame] = []

            async def run() -> None:
                events.extend([e async for e in client.run(QUESTION, agent="triage")])

            async with trio.open_nursery() as running:
                running.start_soon(run)
                await trio.sleep(0.5)  # attempts fail meanwhile (they are at most 0.2 s apart)
                await seat.start()
    assert events[-1].type == "agent_completed"
    await seat.stop()


async def test_a_connection_that_stops_answering_is_given_up_and_opened_again(
    server: Server, nursery: trio.Nursery
) -> None:
    relay: Relay = await nursery.start(Relay(server.port).serve)
    with trio.fail_after(WAIT_S):
        async with connect(
            relay.url, token_for("alice"), reconnect=QUICK, keepalive_s=0.3
        ) as client:
            stream = client.events()
            relay.freeze()  # the network stops delivering; nothing is closed
            async with open_client(server.url, token_for("alice")) as other:
                await other.send("start_agent", {"agent": "triage", "input": QUESTION})
                final = await other.receive_type("agent_completed")
            seen = await until(stream, final["seq"])
            assert client.connections >= 2  # (a busy machine may give up a reopened one too)
    assert [e.seq for e in seen] == list(range(1, final["seq"] + 1))
    nursery.cancel_scope.cancel()


async def test_the_connection_s_changes_are_told_as_they_happen(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    seat = RestartableServer(nursery, database=str(tmp_path / "netra.db"))
    await seat.start()
    seen: list[bool] = []
    changed = trio.Event()

    async def watch(client: object) -> None:
        nonlocal changed
        async for connected in client.connection_changes():  # type: ignore[attr-defined]
            seen.append(connected)
            changed.set()
            changed = trio.Event()
        seen.append(None)  # type: ignore[arg-type]  # (the end)

    with trio.fail_after(WAIT_S):
        async with (
            connect(seat.url, token_for("alice"), reconnect=QUICK) as client,
            trio.open_nursery() as watching,
        ):
            watching.start_soon(watch, client)
            await trio.testing.wait_all_tasks_blocked()
            assert seen == []  # connected from the start: nothing changed yet
            await seat.stop()
            while seen != [False]:
                await changed.wait()
            await seat.start()
            while len(seen) < 2:
                await changed.wait()
            assert seen == [False, True] and client.connected
            await client.aclose()
        assert seen == [False, True, None]  # the iteration ended with the client
