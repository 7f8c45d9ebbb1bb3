"""Classification of real-sounding requests: categories, confidence and next agents."""

from __future__ import annotations

import attrs
import pytest

from netra_trio.agents.classification import Classification, classify
from netra_trio.agents.figures import Figures, extract_figures
from tests.agents.test_figures import CASES, figures


@pytest.mark.parametrize(("text", "expected", "category"), CASES)
def test_classify_real_requests(text: str, expected: Figures, category: str) -> None:
    found = extract_figures(text)
    result = classify(text, found)
    assert result.category == category
    assert 0.0 <= result.confidence <= 1.0
    computable = bool(found.models) or any(
        v is not None
        for v in (
            found.requests_per_day,
            found.input_tokens,
            found.output_tokens,
            found.latency_target_ms,
        )
    )
    if category != "general" and computable:
        assert result.next_agents == ["optimization"]
    else:
        assert result.next_agents == []


# --- confidence ---------------------------------------------------------------------------


def test_more_signals_and_figures_raise_confidence() -> None:
    def confidence(text: str) -> float:
        return classify(text, extract_figures(text)).confidence

    one = confidence("Our LLM costs are high.")
    two = confidence("Our LLM costs are high and the bill keeps growing.")
    with_figures = confidence(
        "Our LLM costs are high and the bill keeps growing: gpt-4o, 2M requests/day, "
        "1.5k input tokens, 300 output tokens."
    )
    assert one == pytest.approx(0.5)  # one signal: 1 - 0.5**1
    assert two == pytest.approx(0.75)  # two signals: 1 - 0.5**2
    assert one < two < with_figures <= 1.0


def test_a_split_request_is_less_certain() -> None:
    pure = classify("Our costs are too high.", figures())
    split = classify("Our costs are too high and latency is bad.", figures())
    assert split.category == "cost"  # a tie goes to cost
    assert split.confidence == pytest.approx(pure.confidence / 2)


def test_signals_say_why() -> None:
    text = "gpt-4o p95 under 800ms"
    result = classify(text, extract_figures(text))
    assert result == Classification(
        category="latency",
        confidence=result.confidence,
        signals=[
            "latency:percentile",
            "latency:duration",
            "figure:latency_target_ms",
            "model:gpt-4o",
        ],
        next_agents=["optimization"],
    )


def test_figures_alone_make_a_cost_request() -> None:
    text = "claude 3.5 haiku, 2M requests/day, 1.5k in / 300 out"
    result = classify(text, extract_figures(text))
    assert result.category == "cost"
    assert result.signals[0] == "figure:volume_profile"


def test_classification_is_json_friendly() -> None:
    found = extract_figures("gpt-4o, 2M/day, 1.5k in / 300 out, p95 under 800ms")
    assert set(attrs.asdict(classify("", found))) == {
        "category",
        "confidence",
        "signals",
        "next_agents",
    }
