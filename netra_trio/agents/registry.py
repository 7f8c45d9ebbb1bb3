"""The built-in agents, registered by name."""

from __future__ import annotations

from netra_trio.agents.base import AgentRegistry


def default_agents() -> AgentRegistry:
    return AgentRegistry()
