"""How an AG-UI run fails: the ``agent_error`` codes of ``docs/agui.md``.

Each is an :class:`AgentFailure`, so the runtime turns it into ``agent_error``
(after closing the run's open tool calls). Messages go to the user's clients:
they never hold the endpoint's URL.
"""

from __future__ import annotations

from netra_trio.agents.base import AgentFailure

UNAVAILABLE = "AGENT_UNAVAILABLE"  # unreachable, too slow, or an HTTP error status
PROTOCOL_ERROR = "AGENT_PROTOCOL_ERROR"  # what it sent is not an AG-UI event stream
FAILED = "AGENT_FAILED"  # the endpoint's own RUN_ERROR


def unavailable(message: str) -> AgentFailure:
    return AgentFailure(UNAVAILABLE, message)


def protocol_error(message: str) -> AgentFailure:
    return AgentFailure(PROTOCOL_ERROR, message)
