"""The agent interface: an async callable over a run context.

An agent reads its input and the thread's history from the context, calls its
tools through ``ctx.emit.tool_call`` (which emits the ``tool_executing`` /
``tool_completed`` pair), reports reasoning with ``ctx.emit.thinking``, and
returns an :class:`AgentResult`. It never touches a socket: the runtime emits
``agent_started`` before it and exactly one terminal event after it. An agent
that holds something open across runs (an HTTP client's connections) gives
itself an async ``aclose()`` method, which the server awaits once as it
stops, after the last run has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import orjson

from netra_trio.logs import log_event
from netra_trio.storage.records import MessageRecord


class AgentFailure(Exception):
    """An agent's controlled failure: becomes ``agent_error`` with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class ToolOutcome:
    status: str  # "success" | "error"
    result: Any  # what was sent in tool_completed (JSON-ready)
    value: Any = None  # the tool's own return value, for the agent's next step

    @property
    def ok(self) -> bool:
        return self.status == "success"


OnDelta = Callable[[str], Awaitable[None]]


class Emitter(Protocol):
    """What an agent reports during its run (``ctx.emit``). Each call is one
    or more agent events, stored and then sent to every connection of the
    user, in the order of the calls."""

    async def thinking(self, agent_name: str, thought: str) -> None:
        """``agent_thinking``: a step of the agent's reasoning, numbered."""

    async def output(self, agent_name: str, delta: str, *, output_id: str | None = None) -> str:
        """``agent_output``: streamed answer text. Deltas of one ``output_id``
        (by default one per agent of the run), joined, are the text;
        consecutive ones are merged (at most one event per 50 ms, never held
        past the run's next event or its end). Returns the ``output_id``."""
        ...

    async def tool_call(
        self,
        agent_name: str,
        tool_name: str,
        arguments: dict[str, Any],
        fn: Callable[[], Any],
    ) -> ToolOutcome:
        """Call ``fn`` (sync or async) as a tool: ``tool_executing``, then
        ``tool_completed`` with its return value (JSON-ready through the
        protocol's converter) or, when it raises, ``status: "error"``."""
        ...

    async def tool_started(
        self,
        agent_name: str,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        tool_call_id: str | None = None,
    ) -> str:
        """``tool_executing`` for a tool that runs elsewhere; returns the call's
        id for :meth:`tool_finished`. A call still open when the run ends is
        closed with ``tool_completed`` ``status: "error"``."""
        ...

    async def tool_finished(
        self, tool_call_id: str, result: Any, *, status: str = "success"
    ) -> None:
        """``tool_completed`` of a call opened by :meth:`tool_started`."""


async def require_tool(
    ctx: RunContext,
    agent_name: str,
    tool_name: str,
    arguments: dict[str, Any],
    fn: Callable[[], Any],
    *,
    failure: str | None = None,
) -> ToolOutcome:
    """Call a tool through ``ctx.emit.tool_call``; a failed call ends the run
    with ``TOOL_FAILED`` and ``failure`` (or a message naming the tool)."""
    outcome = await ctx.emit.tool_call(agent_name, tool_name, arguments, fn)
    if not outcome.ok:
        raise AgentFailure("TOOL_FAILED", failure or f"the {tool_name} tool failed")
    return outcome


@attrs.frozen
class AgentResult:
    """A run's success: ``result`` goes to the client in ``agent_completed``
    (a JSON-ready object); ``report`` is appended to the thread as the
    assistant's message."""

    result: dict[str, Any]
    report: str
    agents_involved: tuple[str, ...] = ()  # none: the run's agent


def input_as_text(value: Any) -> str:
    """A run's input as text, as its thread stores it: a string as it is,
    anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


@attrs.frozen
class RunContext:
    """What a run gives its agent. ``input`` is the request's input as the
    client sent it (the text of ``user_message`` and ``agent_request``, any
    JSON value for ``start_agent``); ``history`` is the thread's latest
    messages (at most 50), oldest first, this run's input last (unless it was
    empty)."""

    user_id: str
    thread_id: str
    run_id: str
    agent_name: str  # the name the run was started under
    input: Any
    options: Mapping[str, Any]
    history: Sequence[MessageRecord]
    emit: Emitter
    llm: Any = None  # an LLM client when one is configured

    @property
    def input_text(self) -> str:
        """``input`` as text: a string as it is, anything else as JSON (the
        user's message in the thread)."""
        return input_as_text(self.input)


Agent = Callable[[RunContext], Awaitable[AgentResult]]


class AgentRegistry:
    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}

    def register(self, name: str, agent: Agent) -> None:
        if name in self._agents:
            raise ValueError(f"agent {name!r} is already registered")
        self._agents[name] = agent

    def get(self, name: str) -> Agent | None:
        return self._agents.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._agents))

    async def aclose(self) -> None:
        """Await the ``aclose()`` of every agent that has one (each once,
        also when one of them fails: that one is logged)."""
        seen: set[int] = set()
        for name, agent in sorted(self._agents.items()):
            close = getattr(agent, "aclose", None)
            if close is None or id(agent) in seen:
                continue
            seen.add(id(agent))
            try:
                await close()
            except Exception as exc:  # an agent's own code: never stops the others closing
                log_event("agent_close_failed", logging.WARNING, agent=name, error=repr(exc))
