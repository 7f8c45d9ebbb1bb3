"""Agents for servers that the client tests start as subprocesses
(``--agents tests.client.agents:AGENTS``)."""

from __future__ import annotations

from netra_trio.agents.base import Agent
from tests.helpers import paced_agent

AGENTS: dict[str, Agent] = {"paced": paced_agent(steps=40, pause_s=0.05)}
