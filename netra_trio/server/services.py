"""What handlers and runs may use beyond their connection: storage, the event
log, the agent registry, sessions, the budget of low-value work, and the
optional LLM client."""

from __future__ import annotations

from typing import Any

import attrs

from netra_trio.agents.base import AgentRegistry
from netra_trio.config import Config
from netra_trio.server.event_log import EventLog
from netra_trio.server.round_budget import RoundBudget
from netra_trio.server.sessions import SessionService
from netra_trio.storage.base import Storage


@attrs.frozen
class Services:
    config: Config
    storage: Storage
    event_log: EventLog
    agents: AgentRegistry
    sessions: SessionService
    low_work: RoundBudget  # its run() must be running
    llm: Any = None
