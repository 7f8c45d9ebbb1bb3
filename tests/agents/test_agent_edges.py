"""Edges of the agents' pure parts: figures mentioned twice or in minutes, a
pricing table that is not well formed, and calculator inputs that are not
numbers."""

from __future__ import annotations

from typing import Any

import pytest

from netra_trio.agents.figures import extract_figures
from netra_trio.agents.pricing import ModelPrice, PricingTable, load_pricing
from netra_trio.agents.tools import latency_estimate, monthly_cost

# --- figures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_day"),
    [
        ("2M requests/day, peaking at 50 rps", 2_000_000),  # the first mention wins
        ("peaks of 50 rps on top of 2M requests/day", 50 * 86_400),
    ],
)
def test_the_first_volume_mentioned_is_the_one_read(text: str, per_day: float) -> None:
    assert extract_figures(text).requests_per_day == per_day


def test_the_first_token_count_mentioned_is_the_one_read() -> None:
    found = extract_figures("prompts of 2k tokens, and later prompts of 3k tokens, output 300")
    assert (found.input_tokens, found.output_tokens) == (2_000, 300)


@pytest.mark.parametrize(
    ("text", "target_ms"),
    [
        ("a batch job that must finish within 2 minutes", 120_000),
        ("under 1.5 mins", 90_000),
        ("we need an answer in under 1 min", 60_000),
    ],
)
def test_latency_targets_in_minutes(text: str, target_ms: float) -> None:
    assert extract_figures(text).latency_target_ms == target_ms


# --- the pricing table -----------------------------------------------------------------


def model(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "alpha",
        "provider": "p",
        "aliases": ["a-1"],
        "input_per_mtok": 1.0,
        "output_per_mtok": 2.0,
        "cached_input_per_mtok": 0.5,
        "batch_discount": 0.5,
        "quality_tier": "mid",
        "time_to_first_token_ms": 400,
        "output_tokens_per_s": 80,
    }
    entry.update(changes)
    return entry


def table(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "2025-01-01.1",
        "source_date": "2025-01-01",
        "source": "test",
        "currency": "USD",
        "models": [model()],
    }
    data.update(changes)
    return data


def test_a_well_formed_table_loads_and_counts_its_models() -> None:
    assert len(PricingTable.from_dict(table())) == 1
    assert len(load_pricing()) == len(load_pricing().names) > 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (table(models=[]), "'models' must be a non-empty list"),
        (table(models={"alpha": model()}), "'models' must be a non-empty list"),
        (table(models=["alpha"]), "each model must be an object, got 'alpha'"),
        (table(source=""), "table: 'source' must be a non-empty string"),
        (table(currency=None), "table: 'currency' must be a non-empty string"),
        (table(models=[model(name=7)]), "model: 'name' must be a non-empty string"),
        (table(models=[model(aliases="a-1")]), "'aliases' must be a list of non-empty strings"),
        (table(models=[model(aliases=["a-1", ""])]), "'aliases' must be a list of non-empty"),
        (table(models=[model(provider="")]), "model 'alpha': 'provider' must be a non-empty"),
        (table(models=[model(name="--")]), "model '--': name must not be empty"),
    ],
)
def test_a_table_that_is_not_well_formed_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PricingTable.from_dict(data)


def test_a_model_price_checks_its_own_fields() -> None:
    """Made in code (not from the JSON), a price is still checked."""
    fields: dict[str, Any] = {
        "provider": "p",
        "aliases": (),
        "input_per_mtok": 1.0,
        "output_per_mtok": 2.0,
        "cached_input_per_mtok": None,
        "batch_discount": None,
        "time_to_first_token_ms": 400.0,
        "output_tokens_per_s": 80.0,
    }
    assert ModelPrice(name="beta", quality_tier="small", **fields).quality_tier == "small"
    with pytest.raises(ValueError, match="quality_tier must be one of"):
        ModelPrice(name="beta", quality_tier="huge", **fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must not be empty"):
        ModelPrice(name="   ", quality_tier="small", **fields)


# --- calculator inputs -----------------------------------------------------------------

GPT_4O = load_pricing().lookup("gpt-4o")


@pytest.mark.parametrize("value", ["2000000", None, True, [1]])
def test_a_volume_that_is_not_a_number_is_refused(value: object) -> None:
    assert GPT_4O is not None
    with pytest.raises(ValueError, match=r"requests_per_day must be a number, got"):
        monthly_cost(GPT_4O, value, 1_500, 300)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"output_tokens must be a number, got"):
        latency_estimate(GPT_4O, 1_500, value)  # type: ignore[arg-type]
