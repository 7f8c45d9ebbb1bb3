"""What runs and connections use beyond themselves: one value, made at start-up
(``startup.py``) and shared by every user hub."""

from __future__ import annotations

from typing import Any

import attrs

from netra_trio.agents.base import AgentRegistry
from netra_trio.config import Config
from netra_trio.pipeline.event_log import EventLog
from netra_trio.server.round_budget import RoundBudget
from netra_trio.server.sessions import SessionService
from netra_trio.storage.base import Storage


@attrs.frozen
class Services:
    """What runs and connections use beyond themselves."""

    config: Config
    storage: Storage
    event_log: EventLog
    agents: AgentRegistry
    sessions: SessionService
    low_work: RoundBudget  # its run() must be running
    llm: Any = None
