"""Helpers for run tests: collect a run's events from a client."""

from __future__ import annotations

from typing import Any

import trio

from netra_trio.client import NetraClient

TERMINAL = ("agent_completed", "agent_error")
AGENT_EVENTS = (
    "agent_started",
    "agent_thinking",
    "agent_output",
    "tool_executing",
    "tool_completed",
    *TERMINAL,
)
ISSUE_EXAMPLE = (
    "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens, how do we cut cost?"
)


async def run_events(
    client: NetraClient,
    *,
    runs: int = 1,
    timeout_s: float = 15.0,
    others: list[dict[str, Any]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Agent events by run id, until ``runs`` runs have ended; other frames go to ``others``."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    ended = 0
    with trio.fail_after(timeout_s):
        while ended < runs:
            frame = await client.receive()
            if frame["type"] in AGENT_EVENTS:
                by_run.setdefault(frame["run_id"], []).append(frame)
                ended += frame["type"] in TERMINAL
            elif others is not None:
                others.append(frame)
    return by_run


def assert_well_formed(events: list[dict[str, Any]]) -> None:
    """The protocol's order for one run."""
    types = [e["type"] for e in events]
    assert types[0] == "agent_started"
    assert sum(t in TERMINAL for t in types) == 1 and types[-1] in TERMINAL
    open_calls: dict[str, str] = {}
    for event in events[1:-1]:
        payload = event["payload"]
        if event["type"] == "tool_executing":
            assert payload["tool_call_id"] not in open_calls
            open_calls[payload["tool_call_id"]] = payload["tool_name"]
        elif event["type"] == "tool_completed":
            assert open_calls.pop(payload["tool_call_id"]) == payload["tool_name"]
            assert payload["status"] in ("success", "error")
            assert payload["duration_ms"] >= 0
    assert open_calls == {}
    run_ids = {e["run_id"] for e in events}
    thread_ids = {e["thread_id"] for e in events}
    assert len(run_ids) == 1 and len(thread_ids) == 1
    assert all("agent_name" in e["payload"] for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
