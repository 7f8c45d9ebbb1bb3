"""The triage agent: what kind of request is this, and what figures does it hold?

Two tool calls: ``extract_figures`` (models, requests per day, tokens per
request, latency target) and ``classify_request`` (cost, latency, quality,
throughput or general, with a confidence and the agents that should run next).
"""

from __future__ import annotations

from typing import Any

import attrs

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext, ToolOutcome, require_tool
from netra_trio.agents.classification import Classification, classify
from netra_trio.agents.figures import Figures, extract_figures

NAME = "triage"


@attrs.frozen
class TriageFindings:
    figures: Figures
    classification: Classification

    def as_result(self) -> dict[str, Any]:
        return {
            "category": self.classification.category,
            "confidence": self.classification.confidence,
            "signals": list(self.classification.signals),
            "next_agents": list(self.classification.next_agents),
            "figures": attrs.asdict(self.figures),
        }


def request_text(value: Any) -> str:
    """The text of a run's input: a string, or an object's ``content``/``text``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("content", "text", "request"):
            if isinstance(value.get(key), str):
                return str(value[key])
    raise AgentFailure("INVALID_INPUT", "the input must be text or an object with 'content'")


async def extract_step(ctx: RunContext, text: str, agent_name: str) -> ToolOutcome:
    """The ``extract_figures`` tool call that triage and optimization both begin with."""
    return await require_tool(
        ctx,
        agent_name,
        "extract_figures",
        {"text": text[:500]},
        lambda: extract_figures(text),
        failure="could not read figures from the request",
    )


async def triage_step(ctx: RunContext, text: str, agent_name: str = NAME) -> TriageFindings:
    await ctx.emit.thinking(
        agent_name, "Reading the request for models, volumes, token sizes and latency targets."
    )
    extracted = await extract_step(ctx, text, agent_name)
    figures: Figures = extracted.value
    classified = await require_tool(
        ctx,
        agent_name,
        "classify_request",
        {"figures": extracted.result},
        lambda: classify(text, figures),
        failure="could not classify the request",
    )
    classification: Classification = classified.value
    nxt = ", ".join(classification.next_agents) or "no further agents"
    await ctx.emit.thinking(
        agent_name,
        f"This is a {classification.category} request "
        f"(confidence {classification.confidence:.2f}); next: {nxt}.",
    )
    return TriageFindings(figures, classification)


async def triage_agent(ctx: RunContext) -> AgentResult:
    findings = await triage_step(ctx, request_text(ctx.input))
    c = findings.classification
    report = (
        f"**Triage:** a {c.category} request (confidence {c.confidence:.2f}). "
        f"Next: {', '.join(c.next_agents) or 'none'}."
    )
    return AgentResult(result=findings.as_result(), report=report, agents_involved=(NAME,))
