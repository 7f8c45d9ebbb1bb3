"""Streams from the stand-in provider, piece by piece as scripted: a reply read
without a listener, a piece that is not text, and the supervisor turning a
streamed summary into ``agent_output`` text."""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import pytest
import trio

from netra_trio.agents.llm import ChatMessage, LLMClient, LLMUnavailable
from netra_trio.client import open_client
from tests.helpers import start_server, token_for
from tests.llm.standin import StandIn
from tests.runs.support import ISSUE_EXAMPLE, assert_well_formed, run_events

PROMPT = [ChatMessage("user", "How do we cut cost?")]


@attrs.define
class Scripted(StandIn):
    """Streams exactly ``pieces`` (each a delta's ``content``), then ``[DONE]``."""

    pieces: list[Any] = attrs.Factory(list)

    def _events(self) -> list[bytes]:
        chunks = [
            orjson.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}) for p in self.pieces
        ]
        return [*chunks, b"[DONE]"]


async def start(nursery: trio.Nursery, pieces: list[Any]) -> Scripted:
    standin: Scripted = await nursery.start(Scripted(pieces=pieces).serve)
    return standin


async def test_a_reply_is_read_whole_without_a_listener(nursery: trio.Nursery) -> None:
    standin = await start(nursery, ["Cache the ", "", "prefix."])
    with trio.fail_after(10):
        assert await LLMClient(standin.base_url, "m").complete(PROMPT) == "Cache the prefix."


async def test_a_piece_that_is_not_text_is_a_malformed_stream(nursery: trio.Nursery) -> None:
    standin = await start(nursery, ["Cache the ", 42, "prefix."])
    pieces: list[str] = []

    async def on_delta(piece: str) -> None:
        pieces.append(piece)

    with trio.fail_after(10), pytest.raises(LLMUnavailable, match="malformed stream"):
        await LLMClient(standin.base_url, "m").complete(PROMPT, on_delta=on_delta)
    assert pieces == ["Cache the "]  # nothing after the bad piece was taken


async def test_the_streamed_summary_is_the_runs_output_text(nursery: trio.Nursery) -> None:
    first = "Move the bulk of the traffic to gpt-4o-mini first."
    second = " Then cache the long shared system prompt prefix!"
    standin = await start(nursery, [first[:20], first[20:], second])
    server = await start_server(nursery, llm_base_url=standin.base_url, llm_model="stand-in")
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("agent_request", {"content": ISSUE_EXAMPLE})
        (events,) = (await run_events(client)).values()
    assert_well_formed(events)
    outputs = [e["payload"] for e in events if e["type"] == "agent_output"]
    assert 1 <= len(outputs) <= 3
    assert {(o["agent_name"], o["output_id"]) for o in outputs} == {
        ("supervisor", outputs[0]["output_id"])
    }
    assert "".join(o["delta"] for o in outputs) == first + second
    thoughts = [e["payload"]["thought"] for e in events if e["type"] == "agent_thinking"]
    assert first not in thoughts  # the answer is output, not thinking
    result = events[-1]["payload"]["result"]
    assert result["summary"] == first + second
    assert result["llm"] == {"used": True, "model": "stand-in"}
    server.request_shutdown()
