"""The AsyncAPI document against a real server: every frame the server sends
in a session that uses every client message matches the JSON Schema of its
type in the document, every server message type is seen, and the replies
correlated to each client frame are among those its operation lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from netra_trio.agents.base import AgentFailure, AgentRegistry, AgentResult, RunContext
from netra_trio.client import NetraClient, open_websocket
from netra_trio.protocol.asyncapi import REPLIES
from netra_trio.protocol.server_messages import PONG, SERVER_TYPES
from netra_trio.testing import RunningServer
from tests.e2e.support import WAIT_S, Frame
from tests.helpers import agents_with, waiting_agent
from tests.protocol.asyncapi_support import frame_errors

pytestmark = pytest.mark.e2e

SERVER_KINDS = {kind for kind, _ in SERVER_TYPES.values()} | {PONG[0], "batch"}


async def chatty(ctx: RunContext) -> AgentResult:
    await ctx.emit.thinking(ctx.agent_name, "looking it up")
    await ctx.emit.tool_call(ctx.agent_name, "lookup", {"q": ctx.input_text}, lambda: {"n": 1})
    await ctx.emit.output(ctx.agent_name, "the answer")
    return AgentResult(result={"answer": 42}, report="**42**")


async def failing(ctx: RunContext) -> AgentResult:
    raise AgentFailure("NO_LUCK", "it did not work")


@pytest.fixture
def netra_agents() -> AgentRegistry:
    return agents_with(chatty=chatty, failing=failing, waiting=waiting_agent())


class CheckedClient:
    """A client whose every received frame is checked against the document
    (each frame of a ``batch`` too), recording types and correlations."""

    def __init__(self, client: NetraClient, seen: set[str], problems: list[str]) -> None:
        self.client = client
        self.seen = seen
        self.problems = problems
        self.replies: dict[str, list[str]] = defaultdict(list)
        self._ids = 0

    def _check(self, frame: Frame) -> list[Frame]:
        kind = frame.get("type")
        self.seen.add(str(kind))
        self.problems += [f"{kind}: {e}" for e in frame_errors(f"server.{kind}", frame)]
        if kind == "batch":
            return [f for inner in frame["payload"]["messages"] for f in self._check(inner)]
        if "correlation_id" in frame:
            self.replies[frame["correlation_id"]].append(str(kind))
        return [frame]

    async def frames_until(self, done: Callable[[Frame], bool]) -> list[Frame]:
        frames: list[Frame] = []
        with trio.fail_after(WAIT_S):
            while not any(done(f) for f in frames):
                frames += self._check(await self.client.receive())
        return frames

    async def send(self, kind: str, payload: dict[str, Any] | None = None, **envelope: Any) -> str:
        self._ids += 1
        message_id = f"{kind}-{self._ids}"
        await self.client.send(kind, payload, message_id=message_id, **envelope)
        return message_id

    async def exchange(
        self, kind: str, payload: dict[str, Any] | None = None, *, until: str, **envelope: Any
    ) -> list[Frame]:
        """Send a frame; every frame up to and including the first of type ``until``."""
        message_id = await self.send(kind, payload, **envelope)
        frames = await self.frames_until(lambda f: f["type"] == until)
        if REPLIES.get(kind):
            assert self.replies[message_id], f"no reply to {kind}"
        return frames


@asynccontextmanager
async def checked(
    server: RunningServer, token: str, seen: set[str], problems: list[str], query: str = ""
) -> AsyncIterator[CheckedClient]:
    headers = [(b"Authorization", f"Bearer {token}".encode())]
    async with open_websocket(server.url + query, headers=headers) as ws:
        client = CheckedClient(NetraClient(ws, unbatch=False), seen, problems)
        (first,) = await client.frames_until(lambda f: True)
        assert first["type"] == "connection_established"
        yield client


async def test_every_server_frame_matches_the_document(
    netra_server: RunningServer, netra_token: Callable[..., str]
) -> None:
    seen: set[str] = set()
    problems: list[str] = []
    token = netra_token("alice")
    async with (
        checked(netra_server, token, seen, problems, "?batch=1") as alice,
        checked(netra_server, token, seen, problems) as other,
    ):
        await alice.exchange("ping", {"n": 1}, until="pong")
        await alice.exchange("heartbeat", until="heartbeat_ack")
        await alice.exchange("typing_started", until="typing_ack")
        await other.frames_until(lambda f: f["type"] == "user_typing")
        await alice.exchange("typing_stopped", until="typing_ack")
        frames = await alice.exchange("user_message", {"content": "hi"}, until="agent_completed")
        thread = next(f["thread_id"] for f in frames if f["type"] == "agent_started")
        chatty_run = {"agent": "chatty", "input": "q"}
        await alice.exchange("start_agent", chatty_run, until="agent_completed")
        await alice.exchange("start_agent", {"agent": "failing", "input": "q"}, until="agent_error")
        started = await alice.exchange(
            "start_agent", {"agent": "waiting", "input": "q"}, until="tool_executing"
        )
        run_id = started[0]["run_id"]
        await alice.exchange("stop_agent", {"run_id": run_id}, until="agent_completed")
        await alice.exchange("agent_request", {"content": "hello"}, until="agent_completed")
        await alice.exchange("get_thread_history", {"thread_id": thread}, until="thread_history")
        await alice.exchange("list_threads", until="threads")
        await alice.exchange("session_update", {"data": {"k": 1}}, until="session_state")
        await alice.exchange("session_get", until="session_state")
        await alice.exchange("resume", {"last_seq": 0}, until="resume_complete")
        await alice.exchange("refresh", {"token": netra_token("alice")}, until="token_refreshed")
        await alice.exchange("user_message", {"content": ""}, until="error")
        await alice.exchange("batch", {"messages": [{"type": "ping"}] * 3}, until="pong")
        await alice.exchange("ping", until="pong")
    assert problems == []
    assert seen == SERVER_KINDS
    for client in (alice, other):
        for message_id, kinds in client.replies.items():
            allowed = {*REPLIES.get(message_id.rsplit("-", 1)[0], ()), "error"}
            assert set(kinds) <= allowed, (message_id, kinds)
