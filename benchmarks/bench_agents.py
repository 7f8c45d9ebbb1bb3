"""Benchmark-only agents, registered in the benchmark's server process only.

- ``bench_emit``: emits ``n`` ``agent_thinking`` events as fast as the server
  takes them (each ``emit`` returns once the event is stored and handed to the
  user's connections), for the ``push`` scenario.
- ``bench_paced``: emits ``n`` events ``interval_s`` apart, for the
  ``priority`` scenario, where latency and not throughput is measured.

Both take their input as a JSON object: ``{"n": 100, "thought_chars": 120}``.
"""

from __future__ import annotations

from typing import Any

import trio

from netra_trio.agents.base import AgentRegistry, AgentResult, RunContext

EMIT = "bench_emit"
PACED = "bench_paced"
MAX_EVENTS = 100_000


def thought_text(chars: int) -> str:
    base = "Comparing the per-token price of each candidate model against the current spend. "
    return (base * (chars // len(base) + 1))[:chars]


def _params(ctx: RunContext) -> tuple[int, str, dict[str, Any]]:
    data: dict[str, Any] = ctx.input if isinstance(ctx.input, dict) else {}
    n = max(0, min(int(data.get("n", 100)), MAX_EVENTS))
    return n, thought_text(int(data.get("thought_chars", 120))), data


async def bench_emit_agent(ctx: RunContext) -> AgentResult:
    n, thought, _ = _params(ctx)
    for _ in range(n):
        await ctx.emit.thinking(EMIT, thought)
    return AgentResult(result={"events": n}, report=f"emitted {n} events")


async def bench_paced_agent(ctx: RunContext) -> AgentResult:
    n, thought, data = _params(ctx)
    interval_s = float(data.get("interval_s", 0.01))
    for _ in range(n):
        await trio.sleep(interval_s)
        await ctx.emit.thinking(PACED, thought)
    return AgentResult(result={"events": n}, report=f"emitted {n} paced events")


def register(registry: AgentRegistry) -> AgentRegistry:
    registry.register(EMIT, bench_emit_agent)
    registry.register(PACED, bench_paced_agent)
    return registry
