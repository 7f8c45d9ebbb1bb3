"""The supervisor: triage, then optimization when there is something to compute
(always with ``require_multi_agent``), then a report.

With an LLM configured, the summary at the top of the report is written by the
model from the computed figures (streamed, shown as thinking); when the model
fails or times out, the offline summary is used and the result says why.
"""

from __future__ import annotations

from typing import Any

from netra_trio.agents.base import AgentResult, RunContext
from netra_trio.agents.llm import ChatMessage, LLMClient, LLMUnavailable
from netra_trio.agents.optimization import NAME as OPTIMIZATION
from netra_trio.agents.optimization import optimization_step
from netra_trio.agents.report import markdown, offline_summary, recommendations
from netra_trio.agents.triage import NAME as TRIAGE
from netra_trio.agents.triage import TriageFindings, request_text, triage_step

NAME = "supervisor"
_SYSTEM_PROMPT = (
    "You are a cost and latency advisor for teams using LLM APIs. Write a two-sentence summary "
    "for the user from the computed figures given. Use only those figures; do not invent numbers."
)


async def supervisor_agent(ctx: RunContext) -> AgentResult:
    text = request_text(ctx.input)
    await ctx.emit.thinking(
        NAME,
        "Plan: triage the request, optimize if it has figures to work with, then write the report.",
    )
    findings = await triage_step(ctx, text, TRIAGE)
    involved = [NAME, TRIAGE]
    optimization: dict[str, Any] | None = None
    if OPTIMIZATION in findings.classification.next_agents or ctx.options.get(
        "require_multi_agent"
    ):
        optimization = await optimization_step(ctx, findings.figures, OPTIMIZATION)
        involved.append(OPTIMIZATION)
    recs = recommendations(optimization)
    summary, llm_note = await _summary(ctx, text, findings, optimization)
    report = markdown(findings, optimization, recs, summary)
    result: dict[str, Any] = {
        "category": findings.classification.category,
        "confidence": findings.classification.confidence,
        "triage": findings.as_result(),
        "optimization": optimization,
        "recommendations": recs,
        "summary": summary,
        "report_markdown": report,
        "llm": llm_note,
    }
    return AgentResult(result=result, report=report, agents_involved=tuple(involved))


async def _summary(
    ctx: RunContext, text: str, findings: TriageFindings, optimization: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    offline = offline_summary(findings, optimization)
    llm: LLMClient | None = ctx.llm
    if llm is None:
        return offline, {"used": False, "reason": "no model configured"}
    await ctx.emit.thinking(NAME, f"Drafting the summary with {llm.model}.")
    figures = {"request": text[:2000], "triage": findings.as_result(), "optimization": optimization}
    prompt = [ChatMessage("system", _SYSTEM_PROMPT), ChatMessage("user", repr(figures))]
    try:

        async def on_delta(delta: str) -> None:
            await ctx.emit.output(NAME, delta)

        summary = await llm.complete(prompt, on_delta=on_delta)
    except LLMUnavailable as exc:
        await ctx.emit.thinking(
            NAME, f"The model is unavailable ({exc}); using the offline summary."
        )
        return offline, {"used": False, "fallback": True, "reason": str(exc)}
    return summary, {"used": True, "model": llm.model}
