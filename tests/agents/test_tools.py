"""The calculators against hand-computed figures (the arithmetic is written out)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import attrs
import pytest

from netra_trio.agents.pricing import ModelPrice, PricingTable, QualityTier, load_pricing
from netra_trio.agents.tools import (
    PREFILL_MS_PER_INPUT_TOKEN,
    CostBreakdown,
    LatencyEstimate,
    Savings,
    Substitution,
    batch_savings,
    caching_savings,
    cheaper_substitutes,
    latency_estimate,
    monthly_cost,
    usd,
)


def price(
    name: str,
    tier: QualityTier,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    cached: float | None = None,
    batch: float | None = None,
    ttft_ms: float = 500.0,
    tokens_per_s: float = 100.0,
) -> ModelPrice:
    return ModelPrice(
        name=name,
        provider="test",
        aliases=(),
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cached_input_per_mtok=cached,
        batch_discount=batch,
        quality_tier=tier,
        time_to_first_token_ms=ttft_ms,
        output_tokens_per_s=tokens_per_s,
    )


# gpt-4o's list prices, spelled out so these tests do not move when the table does.
GPT_4O = price("gpt-4o", "frontier", 2.5, 10.0, cached=1.25, batch=0.5, ttft_ms=450.0)
NO_DISCOUNTS = price("open-70b", "mid", 0.88, 0.88)


# --- monthly_cost ----------------------------------------------------------------


def test_monthly_cost_of_2m_requests_a_day_on_gpt_4o() -> None:
    # 2M requests/day x 30 days = 60M requests a month.
    # input:  60M x 1,500 tokens = 90B tokens = 90,000 Mtok x $2.50  = $225,000
    # output: 60M x   300 tokens = 18B tokens = 18,000 Mtok x $10.00 = $180,000
    # total: $405,000
    cost = monthly_cost(GPT_4O, 2_000_000, 1_500, 300)
    assert isinstance(cost, CostBreakdown)
    assert attrs.asdict(cost) == pytest.approx(
        {
            "model": "gpt-4o",
            "requests_per_month": 60_000_000,
            "input_cost": 225_000,
            "output_cost": 180_000,
            "total": 405_000,
        }
    )
    assert usd(cost.total) == "$405,000.00"


def test_monthly_cost_with_the_packaged_gpt_4o_price() -> None:
    model = load_pricing().lookup("gpt-4o")
    assert model is not None
    assert monthly_cost(model, 2_000_000, 1_500, 300).total == pytest.approx(405_000)


def test_monthly_cost_of_gpt_4o_mini() -> None:
    mini = price("gpt-4o-mini", "small", 0.15, 0.6, cached=0.075, batch=0.5)
    # input:  90,000 Mtok x $0.15 = $13,500
    # output: 18,000 Mtok x $0.60 = $10,800
    # total: $24,300
    cost = monthly_cost(mini, 2_000_000, 1_500, 300)
    assert cost.input_cost == pytest.approx(13_500)
    assert cost.output_cost == pytest.approx(10_800)
    assert cost.total == pytest.approx(24_300)


def test_monthly_cost_over_a_week() -> None:
    # 1,000 requests/day x 7 days = 7,000 requests.
    # input:  7,000 x 1,000 = 7M tokens = 7 Mtok x $2.50  = $17.50
    # output: 7,000 x 1,000 = 7M tokens = 7 Mtok x $10.00 = $70.00
    cost = monthly_cost(GPT_4O, 1_000, 1_000, 1_000, days=7)
    assert cost.requests_per_month == 7_000
    assert cost.input_cost == pytest.approx(17.5)
    assert cost.output_cost == pytest.approx(70.0)
    assert cost.total == pytest.approx(87.5)


def test_monthly_cost_keeps_fractions_of_a_cent() -> None:
    # 1 request/day x 30 = 30 requests x 10 tokens = 300 tokens x $2.50/M = $0.00075
    cost = monthly_cost(GPT_4O, 1, 10, 0)
    assert cost.total == pytest.approx(0.00075)
    assert cost.total != 0.0  # not rounded to cents inside the calculation
    assert usd(cost.total) == "$0.00"


def test_no_traffic_costs_nothing() -> None:
    cost = monthly_cost(GPT_4O, 0, 1_500, 300)
    assert (cost.input_cost, cost.output_cost, cost.total) == (0.0, 0.0, 0.0)


# --- cheaper_substitutes ---------------------------------------------------------

# 1,000 requests/day x 30 = 30,000 requests; 30,000 x 1,000 in = 30 Mtok in,
# 30,000 x 500 out = 15 Mtok out.
BIG = price("big", "frontier", 10.0, 30.0)  # 30 x 10 + 15 x 30 = $750
PEER = price("peer", "frontier", 5.0, 15.0)  # 30 x 5 + 15 x 15 = $375
PRICEY = price("pricey", "frontier", 20.0, 60.0)  # $1,500
MIDDLING = price("middling", "mid", 1.0, 4.0)  # 30 x 1 + 15 x 4 = $90
MID_PRICEY = price("mid-pricey", "mid", 12.0, 40.0)  # 30 x 12 + 15 x 40 = $960
TINY = price("tiny", "small", 0.1, 0.4)  # 30 x 0.1 + 15 x 0.4 = $9
TABLE = PricingTable(
    version="2025-01-01.1",
    source_date="2025-01-01",
    source="test",
    currency="USD",
    models=(BIG, PEER, PRICEY, MIDDLING, MID_PRICEY, TINY),
)


def test_substitutes_same_tier_and_one_below_sorted_by_savings() -> None:
    subs = cheaper_substitutes(TABLE, BIG, 1_000, 1_000, 500)
    assert all(isinstance(s, Substitution) for s in subs)
    assert [attrs.asdict(s) for s in subs] == [
        # $750 - $90 = $660, 660 / 750 = 88%
        pytest.approx(
            {
                "model": "middling",
                "tier": "mid",
                "monthly_cost": 90,
                "savings": 660,
                "savings_pct": 88.0,
                "quality_risk": True,
            }
        ),
        # $750 - $375 = $375, 50%
        pytest.approx(
            {
                "model": "peer",
                "tier": "frontier",
                "monthly_cost": 375,
                "savings": 375,
                "savings_pct": 50.0,
                "quality_risk": False,
            }
        ),
    ]
    # pricey and mid-pricey cost more; tiny is two tiers below.


def test_substitutes_for_a_mid_model_reach_down_to_small_but_not_up() -> None:
    subs = cheaper_substitutes(TABLE, MIDDLING, 1_000, 1_000, 500)
    # tiny: $90 - $9 = $81, 90%. peer ($375) is a tier above and dearer anyway.
    assert [(s.model, s.quality_risk) for s in subs] == [("tiny", True)]
    assert subs[0].savings == pytest.approx(81)
    assert subs[0].savings_pct == pytest.approx(90.0)


def test_cheaper_higher_tier_models_are_not_proposed() -> None:
    expensive_small = price("expensive-small", "small", 50.0, 50.0)
    table = attrs.evolve(TABLE, models=(*TABLE.models, expensive_small))
    subs = cheaper_substitutes(table, expensive_small, 1_000, 1_000, 500)
    assert [attrs.asdict(s) for s in subs] == [
        pytest.approx(
            {
                "model": "tiny",
                "tier": "small",
                # $50 x 30 + $50 x 15 = $2,250; tiny $9; saves $2,241 = 99.6%
                "monthly_cost": 9,
                "savings": 2_241,
                "savings_pct": 99.6,
                "quality_risk": False,
            }
        )
    ]


def test_the_smallest_model_has_no_substitute() -> None:
    assert cheaper_substitutes(TABLE, TINY, 1_000, 1_000, 500) == []


def test_equal_savings_are_ordered_by_name() -> None:
    twin_b = price("twin-b", "frontier", 5.0, 15.0)
    twin_a = price("twin-a", "frontier", 5.0, 15.0)
    table = attrs.evolve(TABLE, models=(BIG, twin_b, twin_a))
    assert [s.model for s in cheaper_substitutes(table, BIG, 1_000, 1_000, 500)] == [
        "twin-a",
        "twin-b",
    ]


def test_no_traffic_means_nothing_is_cheaper() -> None:
    assert cheaper_substitutes(TABLE, BIG, 0, 1_000, 500) == []


def test_substitutes_for_gpt_4o_in_the_packaged_table() -> None:
    # 2M/day, 1,500 in, 300 out: 90,000 Mtok in and 18,000 Mtok out a month.
    # gpt-4o costs $405,000. Frontier and mid models that cost less:
    #   gemini-2.0-flash  90,000 x 0.10 + 18,000 x 0.40 =  $16,200  saves $388,800
    #   gpt-4.1-mini      90,000 x 0.40 + 18,000 x 1.60 =  $64,800  saves $340,200
    #   llama-3.1-70b     90,000 x 0.88 + 18,000 x 0.88 =  $95,040  saves $309,960
    #   claude-3-5-haiku  90,000 x 0.80 + 18,000 x 4.00 = $144,000  saves $261,000
    #   o3-mini           90,000 x 1.10 + 18,000 x 4.40 = $178,200  saves $226,800
    #   gemini-1.5-pro    90,000 x 1.25 + 18,000 x 5.00 = $202,500  saves $202,500
    #   mistral-large     90,000 x 2.00 + 18,000 x 6.00 = $288,000  saves $117,000
    #   gpt-4.1           90,000 x 2.00 + 18,000 x 8.00 = $324,000  saves  $81,000
    # claude-3-5-sonnet ($540,000) and claude-3-opus cost more; small models are
    # two tiers below.
    table = load_pricing()
    gpt_4o = table.lookup("gpt-4o")
    assert gpt_4o is not None
    subs = cheaper_substitutes(table, gpt_4o, 2_000_000, 1_500, 300)
    assert [(s.model, round(s.savings)) for s in subs] == [
        ("gemini-2.0-flash", 388_800),
        ("gpt-4.1-mini", 340_200),
        ("llama-3.1-70b", 309_960),
        ("claude-3-5-haiku", 261_000),
        ("o3-mini", 226_800),
        ("gemini-1.5-pro", 202_500),
        ("mistral-large", 117_000),
        ("gpt-4.1", 81_000),
    ]
    risky = {s.model for s in subs if s.quality_risk}
    assert risky == {s.model for s in subs if s.tier == "mid"}
    assert {s.model for s in subs if not s.quality_risk} == {"gemini-1.5-pro", "gpt-4.1"}


# --- caching_savings ---------------------------------------------------------------


def test_caching_half_of_the_input() -> None:
    # input 90,000 Mtok: 45,000 uncached x $2.50 = $112,500
    #                    45,000 cached   x $1.25 =  $56,250
    # output 18,000 Mtok x $10 = $180,000
    # after $348,750; before $405,000; saves $56,250 = 13.888...%
    s = caching_savings(GPT_4O, 2_000_000, 1_500, 300, cacheable_fraction=0.5)
    assert s.applicable
    assert s.before == pytest.approx(405_000)
    assert s.after == pytest.approx(348_750)
    assert s.savings == pytest.approx(56_250)
    assert s.savings_pct == pytest.approx(56_250 / 405_000 * 100)
    assert "50%" in s.note and "$1.25/M" in s.note


def test_caching_all_of_the_input() -> None:
    # 90,000 Mtok x $1.25 = $112,500 + $180,000 output = $292,500; saves $112,500
    s = caching_savings(GPT_4O, 2_000_000, 1_500, 300, cacheable_fraction=1.0)
    assert s.after == pytest.approx(292_500)
    assert s.savings == pytest.approx(112_500)
    assert s.savings_pct == pytest.approx(27.777_777_8)


def test_caching_nothing_saves_nothing() -> None:
    s = caching_savings(GPT_4O, 2_000_000, 1_500, 300, cacheable_fraction=0.0)
    assert s.applicable
    assert s.savings == 0.0 and s.after == pytest.approx(405_000)


def test_caching_at_a_ten_percent_cache_price() -> None:
    sonnet_like = price("sonnet-like", "frontier", 3.0, 15.0, cached=0.3)
    # 1,000/day x 30 = 30,000 requests: 30 Mtok in, 15 Mtok out.
    # before: 30 x $3 + 15 x $15 = $90 + $225 = $315
    # 80% cacheable: 6 Mtok x $3 = $18 uncached, 24 Mtok x $0.30 = $7.20 cached
    # after: $18 + $7.20 + $225 = $250.20; saves $64.80 = 20.571...%
    s = caching_savings(sonnet_like, 1_000, 1_000, 500, cacheable_fraction=0.8)
    assert s.before == pytest.approx(315)
    assert s.after == pytest.approx(250.2)
    assert s.savings == pytest.approx(64.8)
    assert s.savings_pct == pytest.approx(64.8 / 315 * 100)


def test_caching_is_not_applicable_without_a_cache_price() -> None:
    # 2M x 30 x 1,500 = 90,000 Mtok x $0.88 = $79,200; 18,000 Mtok x $0.88 = $15,840
    s = caching_savings(NO_DISCOUNTS, 2_000_000, 1_500, 300, cacheable_fraction=0.8)
    assert isinstance(s, Savings)
    assert attrs.asdict(s) == pytest.approx(
        {
            "before": 95_040,
            "after": 95_040,
            "savings": 0.0,
            "savings_pct": 0.0,
            "applicable": False,
            "note": "open-70b has no prompt-cache discount: input is billed in full",
        }
    )


# --- batch_savings -------------------------------------------------------------------


def test_batching_forty_percent_of_requests() -> None:
    # 60% at full price:          $405,000 x 0.6       = $243,000
    # 40% at 50% off:             $405,000 x 0.4 x 0.5 =  $81,000
    # after $324,000; saves $81,000 = 20%
    s = batch_savings(GPT_4O, 2_000_000, 1_500, 300, batchable_fraction=0.4)
    assert s.applicable
    assert s.after == pytest.approx(324_000)
    assert s.savings == pytest.approx(81_000)
    assert s.savings_pct == pytest.approx(20.0)
    assert "50% off" in s.note


def test_batching_everything_halves_the_bill() -> None:
    s = batch_savings(GPT_4O, 2_000_000, 1_500, 300, batchable_fraction=1.0)
    assert s.after == pytest.approx(202_500)
    assert s.savings_pct == pytest.approx(50.0)


def test_batching_at_a_quarter_off() -> None:
    quarter_off = price("quarter-off", "frontier", 10.0, 30.0, batch=0.25)
    # before: 30 Mtok x $10 + 15 Mtok x $30 = $750
    # half the requests at 25% off: $375 + $375 x 0.75 = $375 + $281.25 = $656.25
    # saves $93.75 = 12.5%
    s = batch_savings(quarter_off, 1_000, 1_000, 500, batchable_fraction=0.5)
    assert s.after == pytest.approx(656.25)
    assert s.savings == pytest.approx(93.75)
    assert s.savings_pct == pytest.approx(12.5)
    assert "25% off" in s.note


def test_batching_is_not_applicable_without_a_batch_api() -> None:
    s = batch_savings(NO_DISCOUNTS, 2_000_000, 1_500, 300, batchable_fraction=1.0)
    assert not s.applicable
    assert s.savings == 0.0 and s.before == s.after == pytest.approx(95_040)
    assert "no batch" in s.note


def test_savings_of_no_traffic_are_zero_not_a_division_error() -> None:
    s = batch_savings(GPT_4O, 0, 1_500, 300, batchable_fraction=1.0)
    assert (s.before, s.after, s.savings, s.savings_pct) == (0.0, 0.0, 0.0, 0.0)


# --- latency_estimate ------------------------------------------------------------------


def test_latency_estimate() -> None:
    assert PREFILL_MS_PER_INPUT_TOKEN == 0.02
    # ttft = 450 ms + 1,500 x 0.02 ms = 480 ms; generation = 300 / 100 tok/s = 3,000 ms
    est = latency_estimate(GPT_4O, 1_500, 300)
    assert isinstance(est, LatencyEstimate)
    assert attrs.asdict(est) == pytest.approx(
        {"time_to_first_token_ms": 480, "generation_ms": 3_000, "total_ms": 3_480}
    )


def test_latency_of_a_long_prompt_and_no_output() -> None:
    # 450 ms + 100,000 x 0.02 ms = 2,450 ms; nothing generated
    est = latency_estimate(GPT_4O, 100_000, 0)
    assert est.time_to_first_token_ms == pytest.approx(2_450)
    assert est.generation_ms == 0.0
    assert est.total_ms == pytest.approx(2_450)


def test_a_faster_model_generates_sooner() -> None:
    fast = price("fast", "small", 0.1, 0.4, ttft_ms=300.0, tokens_per_s=250.0)
    # 300 + 500 x 0.02 = 310 ms; 500 / 250 = 2,000 ms
    est = latency_estimate(fast, 500, 500)
    assert (est.time_to_first_token_ms, est.generation_ms, est.total_ms) == pytest.approx(
        (310, 2_000, 2_310)
    )


# --- validation and presentation -------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: monthly_cost(GPT_4O, -1, 1_500, 300), "requests_per_day"),
        (lambda: monthly_cost(GPT_4O, 1, -1_500, 300), "input_tokens"),
        (lambda: monthly_cost(GPT_4O, 1, 1_500, -0.5), "output_tokens"),
        (lambda: monthly_cost(GPT_4O, math.nan, 1_500, 300), "requests_per_day"),
        (lambda: monthly_cost(GPT_4O, math.inf, 1_500, 300), "requests_per_day"),
        (lambda: monthly_cost(GPT_4O, 1, 1_500, 300, days=0), "days"),
        (lambda: monthly_cost(GPT_4O, 1, 1_500, 300, days=-30), "days"),
        (lambda: cheaper_substitutes(TABLE, BIG, -5, 1, 1), "requests_per_day"),
        (lambda: caching_savings(GPT_4O, 1, 1, 1, cacheable_fraction=1.5), "cacheable_fraction"),
        (lambda: caching_savings(GPT_4O, 1, 1, 1, cacheable_fraction=-0.1), "cacheable_fraction"),
        (lambda: caching_savings(GPT_4O, -1, 1, 1, cacheable_fraction=0.5), "requests_per_day"),
        (lambda: batch_savings(GPT_4O, 1, 1, 1, batchable_fraction=2), "batchable_fraction"),
        (lambda: batch_savings(GPT_4O, 1, 1, 1, batchable_fraction=math.nan), "batchable_fraction"),
        (lambda: latency_estimate(GPT_4O, -1, 300), "input_tokens"),
        (lambda: latency_estimate(GPT_4O, 1_500, -300), "output_tokens"),
    ],
)
def test_invalid_inputs_name_the_argument(call: object, argument: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=argument):
        call()


def test_usd_rounds_to_cents_for_display() -> None:
    assert usd(1_234.567) == "$1,234.57"
    assert usd(0) == "$0.00"
    assert usd(-5) == "-$5.00"


def test_results_are_json_friendly() -> None:
    results: list[attrs.AttrsInstance] = [
        monthly_cost(GPT_4O, 2_000_000, 1_500, 300),
        caching_savings(GPT_4O, 2_000_000, 1_500, 300, 0.5),
        batch_savings(GPT_4O, 2_000_000, 1_500, 300, 0.5),
        latency_estimate(GPT_4O, 1_500, 300),
        *cheaper_substitutes(TABLE, BIG, 1_000, 1_000, 500),
    ]
    for result in results:
        data = attrs.asdict(result)
        assert json.loads(json.dumps(data)) == data


def test_the_tools_are_pure_and_import_no_trio() -> None:
    probe = (
        "import sys, netra_trio.agents.tools, netra_trio.agents.figures, "
        "netra_trio.agents.classification; "
        "print(any(m == 'trio' or m.startswith('trio.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
