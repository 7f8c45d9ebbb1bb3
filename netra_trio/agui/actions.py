"""What an AG-UI run reports, as :class:`~netra_trio.agui.mapping.EventMapper` decides it.

Each action is one call on the run's emitter (``agent.py`` applies them in
order): :class:`Output` is ``agent_output``, :class:`Thinking`
``agent_thinking``, :class:`ToolStarted` ``tool_executing``,
:class:`ToolFinished` ``tool_completed``; :class:`Finished` and
:class:`Failed` end the run; :class:`Ignored` is only logged.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Output:
    message_id: str
    delta: str


@attrs.frozen
class Thinking:
    thought: str


@attrs.frozen
class ToolStarted:
    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]


@attrs.frozen
class ToolFinished:
    tool_call_id: str
    result: Any


@attrs.frozen
class Finished:
    result: dict[str, Any]
    report: str


@attrs.frozen
class Failed:
    code: str
    message: str


@attrs.frozen
class Ignored:
    event_type: str


Action = Output | Thinking | ToolStarted | ToolFinished | Finished | Failed | Ignored
