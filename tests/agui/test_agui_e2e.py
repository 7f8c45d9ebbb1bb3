"""``netra-trio serve --agui-agent helper=URL`` as a user runs it: a subprocess, real
clients, an AG-UI endpoint made with the official SDK on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from ag_ui.core import ToolCallResultEvent

from netra_trio.client import NetraClient, open_client
from tests.agui.endpoint import AguiEndpoint, Script
from tests.agui.support import FINISHED, STARTED, text_message, tool_call, until
from tests.helpers import SECRET, serve_subprocess, token_for

pytestmark = pytest.mark.e2e


async def seen_until(client: NetraClient, kind: str) -> list[dict[str, Any]]:
    """The agent events a client receives, up to one of ``kind``."""
    events: list[dict[str, Any]] = []
    with trio.fail_after(10):
        while True:
            frame = await client.receive()
            if "seq" in frame:
                events.append(frame)
                if frame["type"] == kind:
                    return events


async def test_events_reach_every_connection_and_resume_replays_the_missed_ones(
    tmp_path: Path, endpoint: AguiEndpoint
) -> None:
    go_on = trio.Event()
    endpoint.scripts["/"] = Script(
        [
            STARTED,
            *tool_call("c-1", "lookup", '{"q": ', '"price"}'),
            go_on,
            ToolCallResultEvent(message_id="r-1", tool_call_id="c-1", content="$2.50"),
            *text_message("m-1", "It costs ", "$2.50."),
            FINISHED,
        ]
    )
    args = ["--jwt-secret", SECRET, "--database", str(tmp_path / "netra.db")]
    args += ["--agui-agent", f"helper={endpoint.url('/')}"]
    token = token_for("alice")
    async with (
        serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "server.log") as (_, url),
        open_client(url, token) as first,
    ):
        async with open_client(url, token) as second:
            await first.send("start_agent", {"agent": "helper", "input": "what does it cost?"})
            before = await seen_until(first, "tool_executing")
            assert await seen_until(second, "tool_executing") == before  # same frames, same seq
        # the second connection is gone; the run goes on
        go_on.set()
        after = await seen_until(first, "agent_completed")
        assert [e["type"] for e in after][:2] == ["tool_completed", "agent_output"]
        assert after[-1]["payload"]["result"] == {"text": "It costs $2.50."}
        async with open_client(url, token) as again:
            await again.send("resume", {"last_seq": before[-1]["seq"]}, message_id="r-1")
            replayed = await seen_until(again, "agent_completed")
            done = await until(again, "resume_complete")
    assert replayed == after  # exactly the missed events, the same frames
    assert done["payload"] == {"replayed": len(after), "gap": False}
    (body,) = endpoint.requests
    assert body["messages"][-1]["content"] == "what does it cost?"
