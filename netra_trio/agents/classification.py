"""Classification of a request: its category, how sure we are, and what runs next.

:func:`classify` scores the request, given the :class:`~netra_trio.agents.figures.Figures`
found in it:

- Each keyword rule below that matches adds 1 to its category, once per rule
  (cost: cost, expensive, cheap, spend, bill, budget, price, save, money, caching,
  batch; latency: latency, slow, fast, percentile, ttft, response time, real time,
  durations; quality: quality, accuracy, hallucination, evals, regression, better
  answers, reasoning, mistakes; throughput: throughput, rate limit, per-minute
  limits, scale, capacity, queue, bursts).
- Figures add evidence: a latency target adds 1 to latency; a volume with both
  token counts adds 0.5 to cost (the full profile a cost estimate needs).
- The category is the highest score; ties go to cost, latency, quality, throughput
  in that order. With no score at all the request is "general".
- ``confidence = (1 - 0.5 ** E) * top / total`` where ``top`` is the winning score,
  ``total`` the sum over categories and ``E = top + 0.25 * n``, ``n`` counting the
  extracted figures (each numeric figure, plus one for any model named). One
  signal alone gives 0.5, two 0.75; figures raise it; a split between categories
  lowers it. "general" has a flat 0.5: there is nothing to be sure of.
- ``next_agents`` is ``["optimization"]`` when the category is not general and
  there is something to compute (a known model or a figure), otherwise ``[]``.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

from netra_trio.agents.figures import Figures

Category = Literal["cost", "latency", "quality", "throughput", "general"]


@attrs.frozen
class Classification:
    category: Category
    confidence: float
    signals: list[str]
    next_agents: list[str]


_RULE_PATTERNS: tuple[tuple[Category, str, str], ...] = (
    ("cost", "cost", r"\bcost(?:s|ly|ing)?\b"),
    ("cost", "expensive", r"\b(?:expensive|pricey|overpay\w*)\b"),
    ("cost", "cheap", r"\bcheap(?:er|est|ly)?\b"),
    ("cost", "spend", r"\bspend(?:s|ing)?\b|\bspent\b"),
    ("cost", "bill", r"\bbill(?:s|ing|ed)?\b|\binvoices?\b"),
    ("cost", "budget", r"(?<!latency )(?<!time )\bbudget(?:s|ed|ing)?\b"),
    ("cost", "price", r"\bpric(?:e|es|ed|ing)\b"),
    ("cost", "save", r"\bsav(?:e|es|ed|ing|ings)\b"),
    ("cost", "money", r"\$\s?\d|\bdollars?\b|\busd\b|\bmoney\b"),
    ("cost", "caching", r"\bcach(?:e|es|ed|ing|eable)\b"),
    ("cost", "batch", r"\bbatch(?:es|ed|ing)?\b"),
    ("latency", "latency", r"\blatenc(?:y|ies)\b"),
    ("latency", "slow", r"\bslow(?:er|est|ly|ness|s)?\b|\bsluggish\b"),
    ("latency", "fast", r"\bfast(?:er|est)?\b|\bquick(?:er|ly)?\b|\bspeed\b|\bsnappy\b"),
    ("latency", "percentile", r"\bp(?:50|90|95|99)\b"),
    ("latency", "ttft", r"\bttft\b|\btime[- ]to[- ]first[- ]token\b"),
    ("latency", "response_time", r"\b(?:response|wait(?:ing)?|round[- ]trip)\s+times?\b"),
    ("latency", "real_time", r"\breal[- ]?time\b|\binteractive\b|\blag(?:s|gy)?\b"),
    (
        "latency",
        "duration",
        r"\d\s*(?:ms|milliseconds?|secs?|seconds?)\b|(?<![\d.])\d{1,2}(?:\.\d+)?s\b"
        r"|\bsub[- ]?second\b",
    ),
    ("quality", "quality", r"\bquality\b"),
    ("quality", "accuracy", r"\b(?:in)?accura(?:cy|te)\b|\b(?:in)?correct(?:ness)?\b"),
    ("quality", "hallucination", r"\bhallucinat\w*"),
    ("quality", "evals", r"\bevals?\b|\bevaluat\w*|\bbenchmarks?\b"),
    ("quality", "regression", r"\bregress\w*|\bdegrad\w*|\bworse\b"),
    (
        "quality",
        "better_answers",
        r"\bbetter\s+(?:answers|results|outputs?|responses)\b|\bsmarter\b|\bgood\s+enough\b",
    ),
    ("quality", "reasoning", r"\breasoning\b"),
    ("quality", "mistakes", r"\bmistakes?\b|\bwrong\b"),
    ("throughput", "throughput", r"\bthroughput\b"),
    ("throughput", "rate_limit", r"\brate[- ]?limit\w*|\b429s?\b|\bthrottl\w*"),
    ("throughput", "per_minute_limits", r"\btpm\b|\brpm\b|\bqps\b|\brps\b"),
    ("throughput", "scale", r"\bscal(?:e|es|ing|ability)\b"),
    ("throughput", "capacity", r"\bcapacity\b|\bconcurren\w*|\bparallel\w*"),
    ("throughput", "queue", r"\bqueue\w*|\bbacklogs?\b"),
    ("throughput", "bursts", r"\bbursts?\b|\bpeaks?\b|\bspikes?\b"),
)
_RULES = tuple(
    (category, label, re.compile(pattern, re.IGNORECASE))
    for category, label, pattern in _RULE_PATTERNS
)
_PRIORITY: tuple[Category, ...] = ("cost", "latency", "quality", "throughput")
GENERAL_CONFIDENCE = 0.5


def classify(text: str, figures: Figures) -> Classification:
    """The request's category, how sure we are, why, and which agents should run next."""
    scores: dict[Category, float] = dict.fromkeys(_PRIORITY, 0.0)
    signals: list[str] = []
    for category, label, pattern in _RULES:
        if pattern.search(text):
            scores[category] += 1.0
            signals.append(f"{category}:{label}")
    if figures.latency_target_ms is not None:
        scores["latency"] += 1.0
        signals.append("figure:latency_target_ms")
    volume_profile = (figures.requests_per_day, figures.input_tokens, figures.output_tokens)
    if all(v is not None for v in volume_profile):
        scores["cost"] += 0.5
        signals.append("figure:volume_profile")
    signals.extend(f"model:{name}" for name in figures.models)

    top = max(scores.values())
    if top == 0:
        return Classification(
            category="general", confidence=GENERAL_CONFIDENCE, signals=signals, next_agents=[]
        )
    category = next(c for c in _PRIORITY if scores[c] == top)
    evidence = top + 0.25 * figures.count
    confidence = (1 - 0.5**evidence) * top / sum(scores.values())
    computable = figures.count > 0
    return Classification(
        category=category,
        confidence=confidence,
        signals=signals,
        next_agents=["optimization"] if computable else [],
    )
