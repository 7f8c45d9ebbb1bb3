"""The optimization agent's calculators: monthly cost, substitutes, caching, batch, latency.

Pure functions over :class:`~netra_trio.agents.pricing.ModelPrice`; each returns a
frozen attrs result made of strings, floats and bools, so ``attrs.asdict(result)``
is ready for JSON. Money stays an unrounded float in USD throughout; round it
only to show it (:func:`usd`).

The arithmetic, for ``R`` requests a day over ``D`` days, ``I`` input and ``O``
output tokens per request, and prices ``p_in`` / ``p_out`` in USD per 1M tokens::

    requests_per_month = R * D
    input_cost  = R * D * I * p_in  / 1e6
    output_cost = R * D * O * p_out / 1e6

Caching bills the cacheable fraction ``f`` of input tokens at the cached price and
assumes every one of them is a cache hit (cache writes, minimum cacheable lengths
and cache storage fees are left out; the model's ``notes`` name them). Batching
takes ``batch_discount`` off both input and output of the batchable fraction of
requests.

Inputs are checked: counts must be finite and non-negative, fractions in [0, 1],
``days`` a positive integer; a :class:`ValueError` names the argument.
"""

from __future__ import annotations

import math

import attrs

from netra_trio.agents.pricing import ModelPrice, PricingTable, QualityTier, tier_below

TOKENS_PER_MTOK = 1_000_000.0
# Prompt processing ("prefill") added to the table's time to first token, which is
# measured on short prompts: 0.02 ms per input token, i.e. about 50k tokens/s.
# It only matters for long prompts (100k tokens add about 2 s).
PREFILL_MS_PER_INPUT_TOKEN = 0.02


@attrs.frozen
class CostBreakdown:
    model: str
    requests_per_month: float
    input_cost: float  # USD
    output_cost: float  # USD
    total: float  # USD


@attrs.frozen
class Substitution:
    model: str
    tier: QualityTier
    monthly_cost: float  # USD, for the same traffic on this model
    savings: float  # USD a month against the current model
    savings_pct: float  # percent of the current model's monthly cost
    quality_risk: bool  # the substitute is one quality tier below


@attrs.frozen
class Savings:
    before: float  # USD a month
    after: float  # USD a month
    savings: float  # USD a month
    savings_pct: float  # percent of ``before``
    applicable: bool
    note: str


@attrs.frozen
class LatencyEstimate:
    time_to_first_token_ms: float
    generation_ms: float
    total_ms: float


def usd(amount: float) -> str:
    """``amount`` for display, rounded to cents: ``usd(405000) == "$405,000.00"``."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def monthly_cost(
    model: ModelPrice,
    requests_per_day: float,
    input_tokens: float,
    output_tokens: float,
    days: int = 30,
) -> CostBreakdown:
    """What ``requests_per_day`` requests of this size cost on ``model`` over ``days``."""
    _check_traffic(requests_per_day, input_tokens, output_tokens)
    _check_days(days)
    requests = requests_per_day * days
    input_cost = requests * input_tokens * model.input_per_mtok / TOKENS_PER_MTOK
    output_cost = requests * output_tokens * model.output_per_mtok / TOKENS_PER_MTOK
    return CostBreakdown(
        model=model.name,
        requests_per_month=requests,
        input_cost=input_cost,
        output_cost=output_cost,
        total=input_cost + output_cost,
    )


def cheaper_substitutes(
    table: PricingTable,
    model: ModelPrice,
    requests_per_day: float,
    input_tokens: float,
    output_tokens: float,
    days: int = 30,
) -> list[Substitution]:
    """Models of the same quality tier or one tier below that cost less for this traffic.

    Sorted by savings, largest first (ties by name). A substitute one tier below is
    flagged ``quality_risk``: check it on the workload's evals before switching.
    Higher tiers are never proposed, even when cheaper. With no traffic nothing is
    cheaper, so the list is empty.
    """
    current = monthly_cost(model, requests_per_day, input_tokens, output_tokens, days).total
    below = tier_below(model.quality_tier)
    found: list[Substitution] = []
    for candidate in table.models:
        if candidate.name == model.name:
            continue
        if candidate.quality_tier not in (model.quality_tier, below):
            continue
        cost = monthly_cost(candidate, requests_per_day, input_tokens, output_tokens, days).total
        if cost >= current:
            continue
        savings = current - cost
        found.append(
            Substitution(
                model=candidate.name,
                tier=candidate.quality_tier,
                monthly_cost=cost,
                savings=savings,
                savings_pct=_pct(savings, current),
                quality_risk=candidate.quality_tier != model.quality_tier,
            )
        )
    found.sort(key=lambda s: (-s.savings, s.model))
    return found


def caching_savings(
    model: ModelPrice,
    requests_per_day: float,
    input_tokens: float,
    output_tokens: float,
    cacheable_fraction: float,
    days: int = 30,
) -> Savings:
    """A month's cost with ``cacheable_fraction`` of input tokens billed at the cached price."""
    _check_fraction("cacheable_fraction", cacheable_fraction)
    base = monthly_cost(model, requests_per_day, input_tokens, output_tokens, days)
    cached_price = model.cached_input_per_mtok
    if cached_price is None:
        return _not_applicable(
            base.total, f"{model.name} has no prompt-cache discount: input is billed in full"
        )
    input_tokens_month = base.requests_per_month * input_tokens
    uncached_cost = (
        input_tokens_month * (1 - cacheable_fraction) * model.input_per_mtok / TOKENS_PER_MTOK
    )
    cached_cost = input_tokens_month * cacheable_fraction * cached_price / TOKENS_PER_MTOK
    after = uncached_cost + cached_cost + base.output_cost
    note = (
        f"{cacheable_fraction:.0%} of input tokens billed at the cached rate "
        f"${cached_price:g}/M instead of ${model.input_per_mtok:g}/M, assuming every "
        "cacheable token is a cache hit"
    )
    if model.notes:
        note += f". {model.notes}"
    return _savings(base.total, after, note)


def batch_savings(
    model: ModelPrice,
    requests_per_day: float,
    input_tokens: float,
    output_tokens: float,
    batchable_fraction: float,
    days: int = 30,
) -> Savings:
    """A month's cost with ``batchable_fraction`` of requests sent through the batch API."""
    _check_fraction("batchable_fraction", batchable_fraction)
    base = monthly_cost(model, requests_per_day, input_tokens, output_tokens, days)
    discount = model.batch_discount
    if discount is None:
        return _not_applicable(base.total, f"{model.name} has no batch API discount")
    after = base.total * (1 - batchable_fraction) + base.total * batchable_fraction * (1 - discount)
    note = (
        f"{batchable_fraction:.0%} of requests sent through the batch API at {discount:.0%} "
        "off input and output; batch results are asynchronous (up to 24 hours), so only "
        "work that can wait qualifies"
    )
    return _savings(base.total, after, note)


def latency_estimate(
    model: ModelPrice, input_tokens: float, output_tokens: float
) -> LatencyEstimate:
    """A rough per-request latency: first token, then steady generation.

    ``time_to_first_token_ms = model ttft + input_tokens * PREFILL_MS_PER_INPUT_TOKEN``
    and ``generation_ms = output_tokens / output_tokens_per_s * 1000``. Network time,
    queueing under load and provider variance are not modelled.
    """
    _check_non_negative("input_tokens", input_tokens)
    _check_non_negative("output_tokens", output_tokens)
    ttft = model.time_to_first_token_ms + input_tokens * PREFILL_MS_PER_INPUT_TOKEN
    generation = output_tokens / model.output_tokens_per_s * 1000.0
    return LatencyEstimate(
        time_to_first_token_ms=ttft, generation_ms=generation, total_ms=ttft + generation
    )


def _pct(part: float, whole: float) -> float:
    return part / whole * 100.0 if whole > 0 else 0.0


def _savings(before: float, after: float, note: str) -> Savings:
    saved = before - after
    return Savings(
        before=before,
        after=after,
        savings=saved,
        savings_pct=_pct(saved, before),
        applicable=True,
        note=note,
    )


def _not_applicable(before: float, note: str) -> Savings:
    return Savings(
        before=before, after=before, savings=0.0, savings_pct=0.0, applicable=False, note=note
    )


def _check_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_traffic(requests_per_day: float, input_tokens: float, output_tokens: float) -> None:
    _check_non_negative("requests_per_day", requests_per_day)
    _check_non_negative("input_tokens", input_tokens)
    _check_non_negative("output_tokens", output_tokens)


def _check_fraction(name: str, value: float) -> None:
    _check_non_negative(name, value)
    if value > 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
