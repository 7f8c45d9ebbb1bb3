"""examples/agui_pydantic_ai: an AG-UI agent made with pydantic-ai, served by uvicorn in
a subprocess, run by the server as ``--agui-agent``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from netra_trio.client import open_client
from tests.agui.support import no_active_run, one_run, payloads
from tests.helpers import PROJECT_ROOT, start_server, token_for

pytestmark = pytest.mark.e2e

RUNNING = re.compile(rb"Uvicorn running on (http://127\.0\.0\.1:\d+)")


@asynccontextmanager
async def example_endpoint() -> AsyncIterator[str]:
    """The example's app under uvicorn on a free port; yields its base URL."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "uvicorn", "examples.agui_pydantic_ai.app:app", "--port", "0"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        log = b""
        with trio.fail_after(30):
            while (running := RUNNING.search(log)) is None:
                chunk = await process.stderr.receive_some()
                assert chunk, f"uvicorn exited before it listened:\n{log.decode()}"
                log += chunk
        yield running.group(1).decode()
    finally:
        with trio.move_on_after(5, shield=True):
            process.kill()
            await process.wait()
            await process.stderr.aclose()


async def test_a_pydantic_ai_agent_streams_thinks_and_calls_its_tool(
    nursery: trio.Nursery,
) -> None:
    async with example_endpoint() as base_url:
        agents = (("pricing", f"{base_url}/"), ("pricing-legacy", f"{base_url}/legacy"))
        server = await start_server(nursery, agui_agents=agents)
        async with open_client(server.url, token_for("alice")) as client:
            current = await one_run(client, "pricing", "what does gpt-4o cost?")
            await no_active_run(server, "alice")
            thread_id = current[0]["thread_id"]
            again = await one_run(client, "pricing", "and cached?", thread_id)
            legacy = await one_run(client, "pricing-legacy", "what does gpt-4o cost?")
    answer = "gpt-4o costs $2.5 per million input tokens. (You asked: what does gpt-4o cost?)"
    for events in (current, legacy):  # REASONING_* and THINKING_*: the same run
        assert [e["type"] for e in events if e["type"] != "agent_output"] == [
            "agent_started",
            "agent_thinking",
            "tool_executing",
            "tool_completed",
            "agent_completed",
        ]
        (thought,) = payloads(events, "agent_thinking")
        assert thought["thought"] == "The user asks about prices; look up gpt-4o first."
        (executing,) = payloads(events, "tool_executing")
        assert executing["tool_name"] == "unit_price"
        assert executing["tool_call_id"] == "call-1"
        assert executing["arguments"] == {"model": "gpt-4o"}
        (completed,) = payloads(events, "tool_completed")
        assert (completed["status"], completed["result"]) == ("success", "2.5")
        assert "".join(p["delta"] for p in payloads(events, "agent_output")) == answer
        assert events[-1]["payload"]["result"] == {"text": answer}
    # the second run on the thread sent the whole conversation, which pydantic-ai accepted
    assert again[-1]["payload"]["result"]["text"].endswith("(You asked: and cached?)")
