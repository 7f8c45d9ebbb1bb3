"""The agents a server serves: the built-in ones, registered by name, and
those of its ``--agents`` entries (``plugins.py``), next to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netra_trio.agents.base import AgentRegistry
from netra_trio.agents.optimization import optimization_agent
from netra_trio.agents.plugins import plugin_agents
from netra_trio.agents.supervisor import supervisor_agent
from netra_trio.agents.triage import triage_agent
from netra_trio.agui.agent import agui_agents
from netra_trio.errors import StartupError
from netra_trio.logs import log_event

if TYPE_CHECKING:
    from netra_trio.config import Config


def default_agents() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register("supervisor", supervisor_agent)
    registry.register("triage", triage_agent)
    registry.register("optimization", optimization_agent)
    return registry


def agents_for(config: Config) -> AgentRegistry:
    """The built-in agents, then the agents of ``config.agents`` (their
    modules imported now); a name registered twice stops the start
    (StartupError, naming both sources)."""
    registry = default_agents()
    sources = dict.fromkeys(registry.names, "a built-in agent")
    for plugin in plugin_agents(config.agents):
        taken = sources.get(plugin.name)
        if taken is not None:
            raise StartupError(f"agents {plugin.entry!r}: agent {plugin.name!r} is already {taken}")
        registry.register(plugin.name, plugin.agent)
        sources[plugin.name] = f"registered by agents {plugin.entry!r}"
    for name, agent in agui_agents(config).items():
        taken = sources.get(name)
        if taken is not None:
            raise StartupError(f"--agui-agent {name}: agent {name!r} is already {taken}")
        registry.register(name, agent)
        sources[name] = "an AG-UI agent"
    if config.agents:
        log_event("agents_loaded", entries=list(config.agents), agents=list(registry.names))
    return registry
