"""Agents: the public interface for writing one, and the built-in triage,
optimization and supervisor agents with the tools they call.

An agent is an async callable that takes a :class:`RunContext` and returns an
:class:`AgentResult`; it reports its work through ``ctx.emit`` (an
:class:`Emitter`) and fails in a controlled way by raising
:class:`AgentFailure`. See ``docs/agents.md``.
"""

from netra_trio.agents.base import (
    Agent,
    AgentFailure,
    AgentResult,
    Emitter,
    RunContext,
    ToolOutcome,
    require_tool,
)
from netra_trio.protocol.codec import UnrenderableEvent
from netra_trio.storage.records import MessageRecord

__all__ = [
    "Agent",
    "AgentFailure",
    "AgentResult",
    "Emitter",
    "MessageRecord",
    "RunContext",
    "ToolOutcome",
    "UnrenderableEvent",
    "require_tool",
]
