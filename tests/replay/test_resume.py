"""``resume``: replay after a seq, gaps past retention, and replay racing live events."""

from __future__ import annotations

from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netra_trio.client import NetraClient, open_client
from tests.helpers import agents_with, paced_agent, start_server, token_for
from tests.runs.support import ISSUE_EXAMPLE, run_events


async def _until_resume_complete(
    client: NetraClient,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with trio.fail_after(15):
        while True:
            frame = await client.receive()
            if frame["type"] == "resume_complete":
                return events, frame
            if "seq" in frame:
                events.append(frame)


async def test_resume_replays_every_later_event_in_order(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    token = token_for("alice")
    async with open_client(server.url, token) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        (live,) = (await run_events(client)).values()
    seen = live[3]["seq"]  # as if the client had stopped there
    async with open_client(server.url, token) as again:
        await again.send("resume", {"last_seq": seen}, message_id="r-1")
        replayed, done = await _until_resume_complete(again)
    assert [e["seq"] for e in replayed] == [e["seq"] for e in live[4:]]
    assert [e["message_id"] for e in replayed] == [e["message_id"] for e in live[4:]]  # same frames
    assert done["payload"] == {"replayed": len(live) - 4, "gap": False}
    assert done["correlation_id"] == "r-1"


async def test_resume_says_when_part_of_the_range_left_retention(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, event_retention_count=5)
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        (live,) = (await run_events(client)).values()
        assert len(live) > 8
        await client.send("resume", {"last_seq": 0})
        replayed, done = await _until_resume_complete(client)
        assert [e["seq"] for e in replayed] == [e["seq"] for e in live[-5:]]
        assert done["payload"] == {"replayed": 5, "gap": True}
        await client.send("resume", {"last_seq": live[-3]["seq"]})
        replayed, done = await _until_resume_complete(client)
        assert [e["seq"] for e in replayed] == [e["seq"] for e in live[-2:]]
        assert done["payload"] == {"replayed": 2, "gap": False}
        await client.send("resume", {"last_seq": live[-1]["seq"] + 100})
        replayed, done = await _until_resume_complete(client)
        assert replayed == [] and done["payload"] == {"replayed": 0, "gap": False}


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(runs=st.integers(1, 3), drop_after=st.integers(0, 12), pause_ms=st.integers(0, 150))
async def test_reconnect_and_resume_during_live_runs_is_exactly_once(
    runs: int, drop_after: int, pause_ms: int
) -> None:
    """A client drops mid-stream while runs go on, reconnects, resumes from the
    last seq it saw: it ends up with every event exactly once, in order."""
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery, agents=agents_with(supervisor=paced_agent(steps=20, pause_s=0.01))
        )
        token = token_for("alice")
        async with open_client(server.url, token) as first:
            for n in range(runs):
                await first.send("agent_request", {"content": f"{ISSUE_EXAMPLE} #{n}"})
            seen: list[int] = []
            with trio.fail_after(10):
                while len(seen) <= drop_after:
                    frame = await first.receive()
                    if "seq" in frame:
                        seen.append(frame["seq"])
        await trio.sleep(pause_ms / 1000)
        async with open_client(server.url, token) as second:
            await second.send("resume", {"last_seq": seen[-1]})
            replayed, done = await _until_resume_complete(second)
            got = seen + [e["seq"] for e in replayed]
            finished = sum(e["type"] in ("agent_completed", "agent_error") for e in replayed)
            with trio.fail_after(15):
                while finished < runs:
                    frame = await second.receive()
                    if "seq" in frame:
                        got.append(frame["seq"])
                        finished += frame["type"] in ("agent_completed", "agent_error")
        assert done["payload"]["gap"] is False
        assert got == list(range(1, len(got) + 1)), got  # every seq once, in order, no gaps
        last = (await server.hub.services.storage.events.replay_window("alice")).last_seq
        assert got[-1] == last
        server.request_shutdown()
