"""The Trio client against a scripted peer: what the netra server never
sends, and what the client sends on each connection."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio

from netra_trio.client import (
    MalformedFrame,
    ProtocolError,
    ReconnectPolicy,
    RequestTimeout,
    TokenUnavailable,
    connect,
)
from netra_trio.protocol import client_messages as cm
from tests.client.peer import Script, ScriptedPeer, established, event, frame
from tests.client.support import WAIT_S
from tests.helpers import token_for

QUICK = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05)


async def start(nursery: trio.Nursery, *scripts: Script) -> ScriptedPeer:
    peer: ScriptedPeer = await nursery.start(ScriptedPeer(*scripts).serve)
    return peer


async def test_events_replayed_again_are_dropped_and_the_resume_names_the_last_seq(
    nursery: trio.Nursery,
) -> None:
    token = token_for("alice")
    peer = await start(
        nursery,
        Script([established(), event(1), event(2)], close=1011),
        Script(
            [
                established(),
                event(1),
                event(2),
                event(3),
                frame("resume_complete", {"replayed": 3, "gap": True}),
                event(3),  # a live event that raced the replay
                event(2),
                event(4, "agent_completed"),
            ]
        ),
    )
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token, reconnect=QUICK) as client:
            stream = client.events()
            seen = []
            async for item in stream:
                seen.append(item.seq)
                if item.is_terminal:
                    break
            assert client.gaps == 1
    assert seen == [1, 2, 3, 4]
    first, second = peer.connections[:2]
    assert first.resource == "/ws"
    assert second.resource == "/ws?session_id=s-1"
    assert second.headers["authorization"] == f"Bearer {token}"
    assert orjson.loads(first.frames[0])["type"] == "heartbeat"
    resume = orjson.loads(second.frames[0])
    assert (resume["type"], resume["payload"]) == ("resume", {"last_seq": 2})


async def test_a_first_message_that_is_a_batch_is_read_whole(nursery: trio.Nursery) -> None:
    batch = frame("batch", {"messages": [orjson.loads(established()), orjson.loads(event(1))]})
    peer = await start(nursery, Script([batch]))
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token_for("alice")) as client:
            first = await client.events().__anext__()
    assert first.seq == 1


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (frame("hello"), "expected connection_established first, got 'hello'"),
        ('{"type": "batch", "payload": {"messages": []}}', "got an empty batch"),
        ("[]", "a frame must be a JSON object"),
    ],
)
async def test_a_peer_that_does_not_speak_netra_first_is_refused(
    nursery: trio.Nursery, first: str, reason: str
) -> None:
    peer = await start(nursery, Script([first]))
    with trio.fail_after(WAIT_S), pytest.raises(MalformedFrame, match=reason):
        async with connect(peer.url, token_for("alice")):
            pass  # pragma: no cover - refused


async def test_a_malformed_frame_later_ends_the_client(nursery: trio.Nursery) -> None:
    peer = await start(nursery, Script([established(), "not json"]))
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token_for("alice"), reconnect=QUICK) as client:
            with pytest.raises(MalformedFrame, match="not JSON"):
                await client.events().__anext__()
    assert len(peer.connections) == 1


async def test_another_user_on_a_later_connection_ends_the_client(nursery: trio.Nursery) -> None:
    peer = await start(
        nursery,
        Script([established("alice")], close=1011),
        Script([established("bob")]),
    )
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token_for("alice"), reconnect=QUICK) as client:
            with pytest.raises(TokenUnavailable, match="another user"):
                await client.events().__anext__()


def answer(kind: str, **replies: list[str]) -> Any:
    """A reply function: to a client frame of ``kind``, the frames named in
    ``replies`` (``{id}`` stands for the frame's message_id)."""

    def reply(client_frame: dict[str, Any]) -> list[str]:
        if client_frame["type"] != kind:
            return []
        message_id = client_frame.get("message_id", "")
        return [text.replace("{id}", message_id) for text in replies["frames"]]

    return reply


async def test_a_run_follows_its_run_id_once_the_first_event_named_it(
    nursery: trio.Nursery,
) -> None:
    frames = [
        event(1, correlation_id="{id}", run_id="r-7"),
        frame("message_ack", {"message_id": "m", "thread_id": "t-1"}, correlation_id="{id}"),
        event(2, run_id="r-8"),  # another run of the user
        event(3, run_id="r-7"),  # stored by a restarted server: no correlation_id
        event(4, "agent_completed", run_id="r-7"),
    ]
    peer = await start(
        nursery, Script([established()], reply=answer("user_message", frames=frames))
    )
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token_for("alice")) as client:
            seen = [e.seq async for e in client.run("hi")]
    assert seen == [1, 3, 4]


async def test_a_run_that_is_not_acknowledged_in_time_raises(nursery: trio.Nursery) -> None:
    peer = await start(nursery, Script([established()]))
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token_for("alice")) as client:
            with pytest.raises(RequestTimeout, match="did not start in time"):
                async for _ in client.run("hi", timeout_s=0.2):
                    pass  # pragma: no cover - nothing comes


async def test_an_error_reply_that_does_not_match_its_class_still_raises(
    nursery: trio.Nursery,
) -> None:
    odd = frame("error", {"code": 5, "text": "odd"}, correlation_id="{id}")
    peer = await start(nursery, Script([established()], reply=answer("ping", frames=[odd])))
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, token_for("alice")) as client:
            with pytest.raises(ProtocolError) as refused:
                await client.request(cm.Ping())
    assert (refused.value.code, refused.value.message) == ("5", "")


async def test_a_refresh_answered_with_something_else_is_tried_again(
    nursery: trio.Nursery,
) -> None:
    odd = frame("token_refreshed", {"expires": "never"}, correlation_id="{id}")
    peer = await start(nursery, Script([established()], reply=answer("refresh", frames=[odd])))
    with trio.fail_after(WAIT_S):
        async with connect(peer.url, lambda: token_for("alice", 2.0)) as client:
            while sum('"refresh"' in f for f in peer.connections[0].frames) < 2:  # noqa: ASYNC110
                await trio.sleep(0.05)
            assert client.connected
