"""The terminal client's view of a run, printed on a console that records plain text."""

from __future__ import annotations

import io

from rich.console import Console

from netra_trio.chat.view import RunPrinter, report_of, shown
from netra_trio.protocol.server_messages import (
    AgentCompleted,
    AgentError,
    AgentOutput,
    AgentStarted,
    AgentThinking,
    ToolCompleted,
    ToolExecuting,
)


def printed(*payloads: object, width: int = 72) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    printer = RunPrinter(console)
    for payload in payloads:
        printer.show(payload)  # type: ignore[arg-type]
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_a_run_shows_each_step_then_its_report() -> None:
    lines = printed(
        AgentStarted("supervisor", "what does it cost?"),
        AgentThinking("supervisor", "Plan: triage", 1),
        ToolExecuting("triage", "classify", "c-1", {"text": "hi"}),
        AgentOutput("supervisor", "o-1", "The answer "),
        AgentOutput("supervisor", "o-1", "is 42."),
        ToolCompleted("triage", "classify", "c-1", "success", {"category": "cost"}, 12.4),
        AgentOutput("supervisor", "o-2", "More."),
        AgentCompleted("supervisor", "success", {"report_markdown": "# Report\n\n- **one**\n"}),
    )
    assert lines[0].startswith("─") and "supervisor: what does it cost?" in lines[0]
    assert lines[1:6] == [
        "… supervisor: Plan: triage",
        '→ classify {"text":"hi"}',
        "  The answer is 42.",
        '✓ classify (12 ms): {"category":"cost"}',
        "  More.",
    ]
    assert [line.strip() for line in lines[6:8]] == ["Report", "• one"]  # Markdown, rendered
    assert "supervisor: done" in lines[-1]


def test_text_that_looks_like_markup_is_shown_as_it_is() -> None:
    lines = printed(
        AgentThinking("a", "[bold red]not markup[/] <b>", 1),
        AgentOutput("a", "o", "[link=x]y[/link]"),
        AgentError("a", "AGENT_FAILED", "it broke [red]"),
    )
    assert lines == [
        "… a: [bold red]not markup[/] <b>",
        "  [link=x]y[/link]",
        "✗ a failed (AGENT_FAILED): it broke [red]",
    ]


def test_failures_stops_and_results_without_a_report() -> None:
    lines = printed(
        ToolCompleted("a", "lookup", "c-1", "error", {"error": "timeout"}, 5000),
        AgentCompleted("a", "cancelled", {}),
        AgentCompleted("a", "success", {"rows": 3}),
        AgentCompleted("a", "success", {}),
    )
    assert lines[0] == '✗ lookup (5000 ms): {"error":"timeout"}'
    assert lines[1] == "■ a: cancelled"
    assert lines[2] == '= {"rows":3}'
    assert "a: done" in lines[3] and "a: done" in lines[4] and len(lines) == 5


def test_values_are_shown_on_one_line_and_cut() -> None:
    assert shown("two\n  lines") == "two lines"
    assert shown({"k": [1, 2]}) == '{"k":[1,2]}'
    assert shown("x" * 10, limit=5) == "xxxx…"
    assert report_of({"text": "plain answer"}) == "plain answer"
    assert report_of({"report_markdown": "# R", "text": "t"}) == "# R"
    assert report_of("just text") == "just text"
    assert report_of({"text": "  "}) is None
    assert report_of(None) is None
