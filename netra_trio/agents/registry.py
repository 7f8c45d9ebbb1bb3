"""The built-in agents, registered by name."""

from __future__ import annotations

from netra_trio.agents.base import AgentRegistry
from netra_trio.agents.optimization import optimization_agent
from netra_trio.agents.supervisor import supervisor_agent
from netra_trio.agents.triage import triage_agent


def default_agents() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register("supervisor", supervisor_agent)
    registry.register("triage", triage_agent)
    registry.register("optimization", optimization_agent)
    return registry
