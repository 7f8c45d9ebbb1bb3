"""The optimization agent: real numbers for cutting cost and latency.

From the figures of a request it prices the current setup, looks for cheaper
models of the same quality tier (and one tier down, flagged), and computes the
savings of prompt caching and of a batch API, and a latency estimate. The
plan it recommends applies a same-tier substitution and prompt caching; the
batch API is reported as a further option because it changes latency.

Assumptions, stated in the result: prompt caching covers ``CACHEABLE_FRACTION``
of input tokens when prompts reach ``CACHE_MIN_TOKENS`` tokens (shared system
prompts and instructions); ``BATCHABLE_FRACTION`` of traffic tolerates batch
latency.
"""

from __future__ import annotations

from typing import Any

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext, require_tool
from netra_trio.agents.figures import Figures
from netra_trio.agents.pricing import ModelPrice, PricingTable, load_pricing
from netra_trio.agents.tools import (
    batch_savings,
    caching_savings,
    cheaper_substitutes,
    latency_estimate,
    monthly_cost,
)
from netra_trio.agents.triage import extract_step, request_text
from netra_trio.protocol.converter import CONVERTER

NAME = "optimization"
CACHEABLE_FRACTION = 0.5
CACHE_MIN_TOKENS = 1024
BATCHABLE_FRACTION = 0.3


def missing_figures(figures: Figures) -> list[str]:
    missing = []
    if not figures.models:
        missing.append("the model in use")
    if figures.requests_per_day is None:
        missing.append("requests per day")
    if figures.input_tokens is None:
        missing.append("input tokens per request")
    if figures.output_tokens is None:
        missing.append("output tokens per request")
    return missing


async def optimization_step(
    ctx: RunContext, figures: Figures, agent_name: str = NAME
) -> dict[str, Any]:
    """Price the setup and the levers; a result naming what is missing when
    the figures are not enough to compute anything."""
    table = load_pricing()
    missing = missing_figures(figures)
    if missing:
        await ctx.emit.thinking(
            agent_name, "Not enough figures to price this: missing " + ", ".join(missing) + "."
        )
        return {"computed": False, "missing": missing}
    model = table.lookup(figures.models[0])
    if model is None:
        await ctx.emit.thinking(agent_name, f"{figures.models[0]} is not in the pricing table.")
        return {"computed": False, "missing": [f"a price for {figures.models[0]}"]}
    assert figures.requests_per_day is not None and figures.input_tokens is not None
    assert figures.output_tokens is not None
    volume = (figures.requests_per_day, figures.input_tokens, figures.output_tokens)
    await ctx.emit.thinking(
        agent_name,
        f"Pricing {model.name} at {volume[0]:,.0f} requests/day, "
        f"{volume[1]:,.0f} in / {volume[2]:,.0f} out tokens.",
    )
    args = {
        "model": model.name,
        "requests_per_day": volume[0],
        "input_tokens": volume[1],
        "output_tokens": volume[2],
    }
    now = await _tool(
        ctx, agent_name, "cost_calculator", args, lambda: monthly_cost(model, *volume)
    )
    subs = await _tool(
        ctx,
        agent_name,
        "model_substitution",
        args,
        lambda: cheaper_substitutes(table, model, *volume),
    )
    same_tier = [s for s in subs if not s.quality_risk]
    plan_model = _model(table, same_tier[0].model) if same_tier else model
    if same_tier:
        await ctx.emit.thinking(
            agent_name,
            f"{plan_model.name} is in the same quality tier and "
            f"saves {same_tier[0].savings_pct:.0f}%.",
        )
    cacheable = CACHEABLE_FRACTION if volume[1] >= CACHE_MIN_TOKENS else 0.0
    caching = await _tool(
        ctx,
        agent_name,
        "prompt_caching_savings",
        {**args, "model": plan_model.name, "cacheable_fraction": cacheable},
        lambda: caching_savings(plan_model, *volume, cacheable),
    )
    batch = await _tool(
        ctx,
        agent_name,
        "batch_api_savings",
        {**args, "model": plan_model.name, "batchable_fraction": BATCHABLE_FRACTION},
        lambda: batch_savings(plan_model, *volume, BATCHABLE_FRACTION),
    )
    latency_now = await _tool(
        ctx,
        agent_name,
        "latency_estimate",
        {"model": model.name, "input_tokens": volume[1], "output_tokens": volume[2]},
        lambda: latency_estimate(model, volume[1], volume[2]),
    )
    latency_plan = latency_estimate(plan_model, volume[1], volume[2])
    after = caching.after  # the plan model's whole cost when caching does not apply
    return {
        "computed": True,
        "pricing_version": table.version,
        "pricing_source_date": table.source_date,
        "model": model.name,
        "monthly_cost_now": round(now.total, 2),
        "monthly_cost_after": round(after, 2),
        "monthly_savings": round(now.total - after, 2),
        "savings_pct": round(100 * (now.total - after) / now.total, 1) if now.total else 0.0,
        "plan": {"model": plan_model.name, "prompt_caching": caching.applicable},
        "cost_now": _dict(now),
        # same-tier candidates first (the plan takes the first), then one tier down
        "substitutions": [
            _dict(s) for s in same_tier[:2] + [s for s in subs if s.quality_risk][:3]
        ],
        "prompt_caching": _dict(caching),
        "batch_api": _dict(batch),
        "latency_ms": {
            "now": _dict(latency_now),
            "plan": _dict(latency_plan),
            "target": figures.latency_target_ms,
        },
        "assumptions": {
            "cacheable_fraction": cacheable,
            "batchable_fraction": BATCHABLE_FRACTION,
            "days_per_month": 30,
        },
    }


async def optimization_agent(ctx: RunContext) -> AgentResult:
    extracted = await extract_step(ctx, request_text(ctx.input), NAME)
    result = await optimization_step(ctx, extracted.value)
    if not result["computed"]:
        raise AgentFailure(
            "INSUFFICIENT_INPUT", "to compute savings, name " + ", ".join(result["missing"])
        )
    report = (
        f"Monthly cost now ${result['monthly_cost_now']:,.2f}; after the plan "
        f"${result['monthly_cost_after']:,.2f} (saves ${result['monthly_savings']:,.2f})."
    )
    return AgentResult(result=result, report=report, agents_involved=(NAME,))


async def _tool(ctx: RunContext, agent: str, name: str, args: dict[str, Any], fn: Any) -> Any:
    return (await require_tool(ctx, agent, name, args, fn)).value


def _model(table: PricingTable, name: str) -> ModelPrice:
    model = table.lookup(name)
    assert model is not None
    return model


def _dict(value: Any) -> Any:
    return CONVERTER.unstructure(value)
