"""How the terminal client shows a run: each agent event as it comes, printed on a rich console.

:class:`RunPrinter` takes a run's events in order (the protocol's payload
classes) and prints them: the start, each thought (dim), each tool call with
its arguments and then its result and duration (a line each, cut at the
terminal's width), streamed output as it arrives
(the deltas of one ``output_id`` on one line of text), and at the end the
run's report rendered as Markdown (the supervisor's ``report_markdown``, or
the ``text`` of an agent's result; any other result as JSON), or the error.
Agent and user text is printed as text: never read as rich markup.
"""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Console
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from netra_trio.protocol.server_messages import (
    AgentCompleted,
    AgentError,
    AgentOutput,
    AgentStarted,
    AgentThinking,
    ToolCompleted,
    ToolExecuting,
)

AgentPayload = (
    AgentStarted
    | AgentThinking
    | AgentOutput
    | ToolExecuting
    | ToolCompleted
    | AgentCompleted
    | AgentError
)
MAX_SHOWN_CHARS = 400  # of a tool's arguments or result, on its line


def shown(value: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` on one line: a string as it is, anything else as compact JSON; cut at ``limit``."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_of(result: Any) -> str | None:
    """The Markdown to show for a run's result, when it has some."""
    if isinstance(result, dict):
        for key in ("report_markdown", "text"):
            value = result.get(key)
            if isinstance(value, str) and value.strip():
                return value
    if isinstance(result, str) and result.strip():
        return result
    return None


class RunPrinter:
    """Prints the events of the runs it is given, on ``console``."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._output_id: str | None = None  # the output being streamed, mid-line

    def show(self, payload: AgentPayload) -> None:
        if not isinstance(payload, AgentOutput):
            self._end_output()
        match payload:
            case AgentStarted(agent_name, preview):
                self._console.print(Rule(Text(f"{agent_name}: {shown(preview, 60)}"), style="cyan"))
            case AgentThinking(agent_name, thought, _):
                self._line("… ", f"{agent_name}: {thought}", "dim")
            case AgentOutput(_, output_id, delta):
                self._stream(output_id, delta)
            case ToolExecuting(_, tool_name, _, arguments):
                self._line("→ ", f"{tool_name} {shown(arguments)}", "yellow", one_line=True)
            case ToolCompleted(_, tool_name, _, status, result, duration_ms):
                mark, style = ("✓ ", "green") if status == "success" else ("✗ ", "red")
                text = f"{tool_name} ({duration_ms:.0f} ms): {shown(result)}"
                self._line(mark, text, style, one_line=True)
            case AgentCompleted(agent_name, status, result):
                self._completed(agent_name, status, result)
            case AgentError(agent_name, code, message):
                self._line("✗ ", f"{agent_name} failed ({code}): {message}", "bold red")

    def note(self, text: str, style: str = "dim") -> None:
        """A line about the connection (not part of a run)."""
        self._end_output()
        self._console.print(Text(text, style=style))

    def _completed(self, agent_name: str, status: str, result: Any) -> None:
        if status != "success":
            self._line("■ ", f"{agent_name}: {status}", "yellow")
            return
        report = report_of(result)
        if report is not None:
            self._console.print(Padding(Markdown(report), (1, 0, 0, 2)))
        elif result not in (None, {}):
            self._line("= ", shown(result, 2000), "")
        self._console.print(Rule(Text(f"{agent_name}: done"), style="green"))

    def _line(self, mark: str, text: str, style: str, *, one_line: bool = False) -> None:
        line = Text(mark, style=style)
        line.append(text, style=style)
        if one_line:  # a tool's line: cut at the terminal's width
            self._console.print(line, no_wrap=True, overflow="ellipsis")
        else:
            self._console.print(line)

    def _stream(self, output_id: str, delta: str) -> None:
        if self._output_id != output_id:
            self._end_output()
            self._console.print(Text("  "), end="")
            self._output_id = output_id
        self._console.print(Text(delta), end="", soft_wrap=True)

    def _end_output(self) -> None:
        if self._output_id is not None:
            self._console.print()
            self._output_id = None
