"""The supervisor's final report: markdown for people, recommendations for programs."""

from __future__ import annotations

from typing import Any

from netra_trio.agents.triage import TriageFindings


def recommendations(optimization: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not optimization or not optimization.get("computed"):
        return []
    recs: list[dict[str, Any]] = []
    subs = optimization["substitutions"]
    same_tier = [sub for sub in subs if not sub["quality_risk"]][:1]  # the plan's choice
    tier_down = [sub for sub in subs if sub["quality_risk"]][:1]
    for sub in same_tier + tier_down:
        recs.append(
            {
                "kind": "model_substitution",
                "model": sub["model"],
                "monthly_savings": round(sub["savings"], 2),
                "savings_pct": round(sub["savings_pct"], 1),
                "quality_risk": sub["quality_risk"],
            }
        )
    for kind in ("prompt_caching", "batch_api"):
        lever = optimization[kind]
        if lever["applicable"] and lever["savings"] > 0:
            recs.append(
                {
                    "kind": kind,
                    "model": optimization["plan"]["model"],
                    "monthly_savings": round(lever["savings"], 2),
                    "savings_pct": round(lever["savings_pct"], 1),
                }
            )
    return recs


def markdown(
    findings: TriageFindings,
    optimization: dict[str, Any] | None,
    recs: list[dict[str, Any]],
    summary: str,
) -> str:
    c = findings.classification
    lines = [
        "## Review",
        "",
        summary,
        "",
        f"**Request:** {c.category} (confidence {c.confidence:.2f})",
    ]
    if optimization and optimization.get("computed"):
        o = optimization
        plan = o["plan"]["model"] + (", prompt caching" if o["plan"]["prompt_caching"] else "")
        lines += [
            f"**Model:** {o['model']}",
            "",
            "| | monthly cost |",
            "|---|---:|",
            f"| now | ${o['monthly_cost_now']:,.2f} |",
            f"| after the plan ({plan}) | ${o['monthly_cost_after']:,.2f} |",
            f"| savings | ${o['monthly_savings']:,.2f} ({o['savings_pct']:.1f}%) |",
            "",
        ]
        if recs:
            lines.append("### Recommendations")
            for n, rec in enumerate(recs, 1):
                risk = " (one quality tier down: evaluate first)" if rec.get("quality_risk") else ""
                label = {
                    "model_substitution": f"Switch to {rec['model']}",
                    "prompt_caching": "Cache the shared prompt prefix",
                    "batch_api": "Send non-interactive traffic through the batch API",
                }[rec["kind"]]
                lines.append(
                    f"{n}. {label}: saves ${rec['monthly_savings']:,.2f}/month "
                    f"({rec['savings_pct']:.1f}%){risk}"
                )
            lines.append("")
        latency = o["latency_ms"]
        lines.append(
            f"**Latency:** about {latency['now']['total_ms']:,.0f} ms per request now, "
            f"{latency['plan']['total_ms']:,.0f} ms with the plan"
            + (f"; target {latency['target']:,.0f} ms." if latency["target"] else ".")
        )
        lines.append(f"\n_Prices: table {o['pricing_version']} ({o['pricing_source_date']})._")
    elif optimization is not None:
        lines.append("To compute savings, tell me " + ", ".join(optimization["missing"]) + ".")
    return "\n".join(lines)


def offline_summary(findings: TriageFindings, optimization: dict[str, Any] | None) -> str:
    if optimization and optimization.get("computed"):
        o = optimization
        return (
            f"Your {o['model']} traffic costs about ${o['monthly_cost_now']:,.0f} "
            f"a month; the plan below brings it to ${o['monthly_cost_after']:,.0f} "
            f"({o['savings_pct']:.1f}% less)."
        )
    return f"This looks like a {findings.classification.category} question."
