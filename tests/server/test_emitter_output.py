"""A run's emitter: streamed output merged at most once per interval and never
held back, events kept in the agent's order, and the run's end closing what is
open (held text, tool calls). Runs the real event log on a SQLite file with
the in-process backplane; time is Trio's autojump clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import trio
import trio.testing

from netra_trio.backplane.memory import MemoryBackplane
from netra_trio.pipeline.event_log import EventLog, EventSource
from netra_trio.protocol.server_messages import AgentCompleted
from netra_trio.server.emitter import OUTPUT_INTERVAL_S, RunEmitter
from netra_trio.storage.records import StoredEvent
from netra_trio.storage.sqlite import SqliteStorage


class Published:
    """Every event the backplane publishes, with the (virtual) time it did."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        now = trio.current_time()
        for event in events:
            self.events.append((now, event.type, orjson.loads(event.frame)["payload"]))

    def of_type(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, payload) for at, t, payload in self.events if t == kind]

    @property
    def types(self) -> list[str]:
        return [t for _, t, _ in self.events]


@asynccontextmanager
async def emitter_on_log(
    tmp_path: Path, *, timer: bool = True
) -> AsyncIterator[tuple[RunEmitter, Published]]:
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    backplane = MemoryBackplane()
    sink = Published()
    await backplane.subscribe("alice")
    try:
        async with trio.open_nursery() as outer:
            await outer.start(backplane.run, sink)
            async with trio.open_nursery() as nursery:
                log = EventLog(storage.events, backplane)
                await nursery.start(log.run)
                producer = log.producer(EventSource("alice", "r-1", "t-1"))
                async with trio.open_nursery() as timers:
                    yield RunEmitter(producer, timers if timer else None), sink
                await trio.sleep(1)  # (all of it published)
                nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    finally:
        await storage.close()


def _done() -> AgentCompleted:
    return AgentCompleted(agent_name="helper", status="success", result=None)


async def test_a_steady_stream_is_merged_to_one_event_per_interval(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    pieces = [f"w{i} " for i in range(40)]
    async with emitter_on_log(tmp_path) as (emit, sink):
        for piece in pieces:
            await emit.output("helper", piece)
            await trio.sleep(0.01)  # 400 ms of text, a delta every 10 ms
        await emit.terminal(_done())
    outputs = sink.of_type("agent_output")
    assert "".join(p["delta"] for _, p in outputs) == "".join(pieces)
    # at most one per 50 ms (plus what the end sends), not one per delta
    assert 7 <= len(outputs) <= 0.4 / OUTPUT_INTERVAL_S + 2
    assert len({p["output_id"] for _, p in outputs}) == 1
    assert sink.types[-1] == "agent_completed"


async def test_the_first_delta_goes_at_once_and_a_pause_does_not_hold_the_rest(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with emitter_on_log(tmp_path) as (emit, sink):
        start = trio.current_time()
        await emit.output("helper", "Hel")
        await emit.output("helper", "lo")  # within the interval: held
        await trio.sleep(10)  # the agent is silent for a long time
        await emit.terminal(_done())
    (first, second) = sink.of_type("agent_output")
    assert first[1]["delta"] == "Hel" and first[0] - start < OUTPUT_INTERVAL_S
    # the held text went out when its interval was over, not at the run's end
    assert second[1]["delta"] == "lo" and second[0] - start < 2 * OUTPUT_INTERVAL_S


async def test_without_a_timer_held_text_goes_with_the_next_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with emitter_on_log(tmp_path, timer=False) as (emit, sink):
        await emit.output("helper", "a")
        await emit.output("helper", "b")
        await trio.sleep(1)
        assert [p["delta"] for _, p in sink.of_type("agent_output")] == ["a"]
        await emit.terminal(_done())
    assert [p["delta"] for _, p in sink.of_type("agent_output")] == ["a", "b"]


async def test_other_events_keep_the_agents_order(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with emitter_on_log(tmp_path) as (emit, sink):
        await emit.output("helper", "Let me look ")
        await emit.output("helper", "that up.")
        await emit.thinking("helper", "needs the weather")
        call = await emit.tool_started("helper", "weather", {"city": "Oslo"}, tool_call_id="x-1")
        await emit.output("helper", "It is ")
        await emit.tool_finished(call, {"temp": 3})
        await emit.output("helper", "3 degrees.", output_id="second")
        await emit.terminal(_done())
    assert sink.types == [
        "agent_output",  # "Let me look " at once
        "agent_output",  # "that up.", sent before the thinking that follows it
        "agent_thinking",
        "tool_executing",
        "agent_output",
        "tool_completed",
        "agent_output",
        "agent_completed",
    ]
    outputs = [p for _, p in sink.of_type("agent_output")]
    assert [o["delta"] for o in outputs] == ["Let me look ", "that up.", "It is ", "3 degrees."]
    assert outputs[0]["output_id"] == outputs[2]["output_id"] != outputs[3]["output_id"]
    assert outputs[3]["output_id"] == "second"
    [(_, executing)] = sink.of_type("tool_executing")
    [(_, completed)] = sink.of_type("tool_completed")
    assert executing["tool_call_id"] == completed["tool_call_id"] == "x-1"
    assert completed["status"] == "success" and completed["result"] == {"temp": 3}


async def test_the_end_sends_held_text_and_closes_open_tool_calls(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with emitter_on_log(tmp_path, timer=False) as (emit, sink):
        await emit.output("helper", "Looking")
        await emit.tool_started("helper", "search", {"q": "a"}, tool_call_id="s-1")
        await emit.tool_started("helper", "fetch", {"url": "b"}, tool_call_id="s-2")
        await emit.tool_finished("s-1", ["hit"])
        await emit.output("helper", " further")
        await emit.output("helper", " still")  # held: within the interval
        await emit.terminal(_done())
        await emit.terminal(_done())  # once only
        await emit.tool_finished("s-2", "too late")  # no longer open: ignored
    assert sink.types == [
        "agent_output",
        "tool_executing",
        "tool_executing",
        "tool_completed",
        "agent_output",  # " further still": held, then sent by the end
        "tool_completed",
        "agent_completed",
    ]
    assert [p["delta"] for _, p in sink.of_type("agent_output")] == ["Looking", " further still"]
    closed = sink.of_type("tool_completed")[-1][1]
    assert closed["tool_call_id"] == "s-2" and closed["tool_name"] == "fetch"
    assert closed["status"] == "error" and "ended before" in closed["result"]["error"]


async def test_an_empty_delta_sends_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with emitter_on_log(tmp_path) as (emit, sink):
        output_id = await emit.output("helper", "")
        assert await emit.output("helper", "x") == output_id
        await emit.terminal(_done())
    assert [p["delta"] for _, p in sink.of_type("agent_output")] == ["x"]
