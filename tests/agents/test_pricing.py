"""The packaged pricing table: it loads, it is consistent, names and aliases resolve."""

from __future__ import annotations

import datetime
import importlib.resources
import json
import re
from typing import Any

import pytest

from netra_trio.agents.pricing import (
    TIERS,
    ModelPrice,
    PricingTable,
    load_pricing,
    name_key,
    tier_below,
)

REQUIRED_MODELS = {
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o3-mini",
    "claude-3-5-sonnet",
    "claude-3-5-haiku",
    "claude-3-opus",
    "gemini-1.5-pro",
    "gemini-1.5-flash",
    "gemini-2.0-flash",
    "llama-3.1-70b",
    "mistral-large",
}
MODEL_FIELDS = {
    "name",
    "provider",
    "aliases",
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "batch_discount",
    "quality_tier",
    "time_to_first_token_ms",
    "output_tokens_per_s",
}


def raw_table() -> dict[str, Any]:
    resource = importlib.resources.files("netra_trio.agents") / "data" / "pricing.json"
    data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return data


def test_the_table_is_dated_and_versioned() -> None:
    table = load_pricing()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", table.version)
    source_date = datetime.date.fromisoformat(table.source_date)
    assert table.version.startswith(table.source_date)
    assert source_date <= datetime.date.today()
    assert table.currency == "USD"
    assert table.source == "providers' public pricing pages"


def test_the_table_is_loaded_once() -> None:
    assert load_pricing() is load_pricing()


def test_the_json_has_the_documented_layout() -> None:
    data = raw_table()
    assert {"version", "source_date", "source", "currency", "models"} <= data.keys()
    for model in data["models"]:
        # Every field is present, with an explicit null where there is no discount.
        assert model.keys() >= MODEL_FIELDS, model["name"]


def test_the_required_models_are_present() -> None:
    assert set(load_pricing().names) >= REQUIRED_MODELS


@pytest.mark.parametrize("model", load_pricing().models, ids=lambda m: m.name)
def test_every_model_is_consistent(model: ModelPrice) -> None:
    assert model.input_per_mtok > 0
    assert model.output_per_mtok >= model.input_per_mtok
    if model.cached_input_per_mtok is not None:
        assert 0 < model.cached_input_per_mtok < model.input_per_mtok
    if model.batch_discount is not None:
        assert 0 < model.batch_discount < 1
    assert model.quality_tier in TIERS
    assert model.time_to_first_token_ms > 0
    assert model.output_tokens_per_s > 0
    assert model.provider


def test_published_list_prices() -> None:
    # (input, output, cached input) in USD per 1M tokens from the providers' pages.
    expected = {
        "gpt-4o": (2.5, 10.0, 1.25),
        "gpt-4o-mini": (0.15, 0.6, 0.075),
        "gpt-4.1": (2.0, 8.0, 0.5),
        "gpt-4.1-mini": (0.4, 1.6, 0.1),
        "gpt-4.1-nano": (0.1, 0.4, 0.025),
        "o3-mini": (1.1, 4.4, 0.55),
        "claude-3-5-sonnet": (3.0, 15.0, 0.3),
        "claude-3-5-haiku": (0.8, 4.0, 0.08),
        "claude-3-opus": (15.0, 75.0, 1.5),
    }
    table = load_pricing()
    for name, prices in expected.items():
        model = table.lookup(name)
        assert model is not None
        actual = (model.input_per_mtok, model.output_per_mtok, model.cached_input_per_mtok)
        assert actual == prices, name


def test_openai_and_anthropic_batch_apis_are_half_price() -> None:
    for model in load_pricing().models:
        if model.provider in ("openai", "anthropic"):
            assert model.batch_discount == 0.5, model.name


def test_models_without_discounts_say_so_with_null() -> None:
    llama = load_pricing().lookup("llama-3.1-70b")
    assert llama is not None
    assert llama.cached_input_per_mtok is None


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt4o", "gpt-4o"),
        ("GPT 4o", "gpt-4o"),
        ("4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("GPT-4o mini", "gpt-4o-mini"),
        ("gpt-4.1", "gpt-4.1"),
        ("GPT 4.1 Mini", "gpt-4.1-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("O3-MINI", "o3-mini"),
        ("claude-3-5-sonnet", "claude-3-5-sonnet"),
        ("claude-3.5-sonnet", "claude-3-5-sonnet"),
        ("claude 3.5 sonnet", "claude-3-5-sonnet"),
        ("Claude Sonnet", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
        ("Claude 3.5 Haiku", "claude-3-5-haiku"),
        ("claude-3-opus-20240229", "claude-3-opus"),
        ("Gemini 1.5 Pro", "gemini-1.5-pro"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("models/gemini-1.5-flash", "gemini-1.5-flash"),
        ("gemini 2.0 flash", "gemini-2.0-flash"),
        ("Llama 3.1 70B", "llama-3.1-70b"),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", "llama-3.1-70b"),
        ("mistral-large-latest", "mistral-large"),
        ("Mistral Large 2", "mistral-large"),
    ],
)
def test_lookup_by_name_or_alias(spelling: str, expected: str) -> None:
    model = load_pricing().lookup(spelling)
    assert model is not None
    assert model.name == expected


@pytest.mark.parametrize(
    "unknown", ["", "   ", "gpt-4", "claude sonnet 4", "llama-3.1-405b", "gemini-1.5-flash-8b"]
)
def test_unknown_names_are_not_guessed(unknown: str) -> None:
    assert load_pricing().lookup(unknown) is None


def test_name_key_ignores_case_and_punctuation() -> None:
    assert name_key("Claude 3.5 Sonnet") == name_key("claude-3-5-sonnet") == "claude35sonnet"


def test_tiers_step_down() -> None:
    assert TIERS == ("frontier", "mid", "small")
    assert tier_below("frontier") == "mid"
    assert tier_below("mid") == "small"
    assert tier_below("small") is None


# --- validation of a table ------------------------------------------------------------


def minimal() -> dict[str, Any]:
    return {
        "version": "2025-01-01.1",
        "source_date": "2025-01-01",
        "source": "test",
        "currency": "USD",
        "models": [
            {
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
            },
            {
                "name": "beta",
                "provider": "p",
                "aliases": [],
                "input_per_mtok": 3.0,
                "output_per_mtok": 6.0,
                "cached_input_per_mtok": None,
                "batch_discount": None,
                "quality_tier": "frontier",
                "time_to_first_token_ms": 600,
                "output_tokens_per_s": 50,
            },
        ],
    }


def test_a_minimal_table_loads() -> None:
    table = PricingTable.from_dict(minimal())
    assert table.names == ("alpha", "beta")
    alpha = table.lookup("A-1")
    assert alpha is not None and alpha.name == "alpha"
    beta = table.lookup("beta")
    assert beta is not None and beta.cached_input_per_mtok is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_per_mtok", -1.0, "input_per_mtok"),
        ("input_per_mtok", 0, "input_per_mtok"),
        ("output_per_mtok", "2", "output_per_mtok"),
        ("cached_input_per_mtok", 1.0, "cached_input_per_mtok"),  # not below input
        ("cached_input_per_mtok", 2.0, "cached_input_per_mtok"),
        ("batch_discount", 1.0, "batch_discount"),
        ("batch_discount", -0.5, "batch_discount"),
        ("quality_tier", "huge", "quality_tier"),
        ("time_to_first_token_ms", 0, "time_to_first_token_ms"),
        ("output_tokens_per_s", True, "output_tokens_per_s"),
    ],
)
def test_a_bad_model_field_is_refused(field: str, value: object, message: str) -> None:
    data = minimal()
    data["models"][0][field] = value
    with pytest.raises(ValueError, match=message):
        PricingTable.from_dict(data)


def test_a_missing_nullable_field_is_refused() -> None:
    data = minimal()
    del data["models"][1]["batch_discount"]
    with pytest.raises(ValueError, match="batch_discount"):
        PricingTable.from_dict(data)


def test_two_models_cannot_share_an_alias() -> None:
    data = minimal()
    data["models"][1]["aliases"] = ["A 1"]  # the same key as alpha's "a-1"
    with pytest.raises(ValueError, match="a1"):
        PricingTable.from_dict(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", "1.0"), ("source_date", "May 2025"), ("source_date", "2025-13-01")],
)
def test_a_bad_date_or_version_is_refused(field: str, value: str) -> None:
    data = minimal()
    data[field] = value
    with pytest.raises(ValueError, match=field):
        PricingTable.from_dict(data)
