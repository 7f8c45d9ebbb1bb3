"""Figures pulled out of real-sounding requests: models, volume, tokens and latency targets."""

from __future__ import annotations

import attrs
import pytest

from netra_trio.agents.figures import Figures, extract_figures


def figures(
    models: list[str] | None = None,
    rpd: float | None = None,
    tokens_in: float | None = None,
    tokens_out: float | None = None,
    latency_ms: float | None = None,
) -> Figures:
    return Figures(
        models=models or [],
        requests_per_day=rpd,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        latency_target_ms=latency_ms,
    )


# Real-sounding requests, the figures they hold and the category they should get
# (checked in test_classification.py).
CASES = [
    # --- cost -------------------------------------------------------------------
    (
        "We send 2M requests/day to gpt-4o, 1.5k input tokens and 300 output tokens. "
        "How do we cut cost?",
        figures(["gpt-4o"], 2_000_000, 1_500, 300),
        "cost",
    ),
    (
        "GPT-4o at 2M/day, input 1.5k tokens and output 300. It's getting too expensive.",
        figures(["gpt-4o"], 2_000_000, 1_500, 300),
        "cost",
    ),
    (
        "2 million requests per day on Claude 3.5 Sonnet, prompts of ~2k tokens, "
        "responses around 250 tokens. What would Haiku cost us?",
        figures(["claude-3-5-sonnet"], 2_000_000, 2_000, 250),
        "cost",
    ),
    (
        # 60M a month / 30 = 2M a day
        "Our bill for gpt4o-mini is climbing: 60M requests a month, 1500 input tokens, "
        "300 output tokens.",
        figures(["gpt-4o-mini"], 2_000_000, 1_500, 300),
        "cost",
    ),
    (
        "llama 3.1 70b vs mistral large for 1.5k in / 300 out at 100k calls a day - "
        "which is cheaper?",
        figures(["llama-3.1-70b", "mistral-large"], 100_000, 1_500, 300),
        "cost",
    ),
    (
        "Can we move our gpt-4o-2024-08-06 traffic to the batch API? 2M completions a day, "
        "1.5k token prompts, 250-token responses.",
        figures(["gpt-4o"], 2_000_000, 1_500, 250),
        "cost",
    ),
    (
        "Requests per day: 40k. Each request sends about 3k tokens and returns ~400 tokens. "
        "Would prompt caching on Claude-3.5-Haiku save money?",
        figures(["claude-3-5-haiku"], 40_000, 3_000, 400),
        "cost",
    ),
    (
        # "$2k/day" is spend, not volume; "gpt-4.1" is not the number 4.1
        "We spend $2k/day on gpt-4.1, input 4.1k tokens per request.",
        figures(["gpt-4.1"], None, 4_100, None),
        "cost",
    ),
    (
        "How can I reduce my LLM bill?",
        figures(),
        "cost",
    ),
    (
        "Gemini 2.0 Flash: daily volume of around 250k, average prompt is 1,200 tokens and "
        "completions are ~150 tokens. Is our spend reasonable?",
        figures(["gemini-2.0-flash"], 250_000, 1_200, 150),
        "cost",
    ),
    # --- latency ------------------------------------------------------------------
    (
        "500k req/day to claude-3-5-haiku, we need p95 under 800ms",
        figures(["claude-3-5-haiku"], 500_000, None, None, 800),
        "latency",
    ),
    (
        # 1,200 an hour x 24 = 28,800 a day
        "1,200 requests per hour on gemini 1.5 flash, latency target 2s",
        figures(["gemini-1.5-flash"], 28_800, None, None, 2_000),
        "latency",
    ),
    (
        "Our chatbot must respond below 1.2 seconds; we use Gemini-1.5-Pro and it feels slow.",
        figures(["gemini-1.5-pro"], None, None, None, 1_200),
        "latency",
    ),
    (
        # the first duration describes today; the target follows "need under"
        "Our p95 is 3s with Claude Sonnet, we need under 1s.",
        figures(["claude-3-5-sonnet"], None, None, None, 1_000),
        "latency",
    ),
    (
        "Meta-Llama-3.1-70B-Instruct-Turbo with 1.5k/300 tokens in/out and TTFT < 300 ms",
        figures(["llama-3.1-70b"], None, 1_500, 300, 300),
        "latency",
    ),
    (
        # "Claude Sonnet 4" is not in the table, and is not 3.5 Sonnet
        "Claude Sonnet 4 is too slow for our voice assistant",
        figures(),
        "latency",
    ),
    # --- quality ------------------------------------------------------------------------
    (
        "Is GPT-4.1 mini good enough quality-wise compared with GPT 4.1? "
        "We see hallucinations in the summaries.",
        figures(["gpt-4.1-mini", "gpt-4.1"]),
        "quality",
    ),
    (
        "Since we switched from claude 3 opus to o3-mini our evals regressed and answers "
        "are less accurate.",
        figures(["claude-3-opus", "o3-mini"]),
        "quality",
    ),
    # --- throughput ----------------------------------------------------------------------
    (
        # 50 requests a second x 86,400 = 4.32M a day
        "We keep hitting rate limits (429s) on O3-mini at peak, 50 rps.",
        figures(["o3-mini"], 4_320_000),
        "throughput",
    ),
    (
        "How do we scale gpt-4.1-nano to 300 QPS without throttling?",
        figures(["gpt-4.1-nano"], 25_920_000),
        "throughput",
    ),
    # --- general ---------------------------------------------------------------------------
    (
        "Hello! What can you help me with?",
        figures(),
        "general",
    ),
    (
        "We're evaluating vendors for a new product next quarter.",
        # "evaluating" is a quality word: a category without anything to compute
        figures(),
        "quality",
    ),
    (
        "We use mistral large 2 for 2 million requests per day.",
        figures(["mistral-large"], 2_000_000),
        "general",
    ),
    (
        "Tell me about your company.",
        figures(),
        "general",
    ),
]


@pytest.mark.parametrize(("text", "expected", "category"), CASES)
def test_figures_of_real_requests(text: str, expected: Figures, category: str) -> None:
    assert extract_figures(text) == expected


@pytest.mark.parametrize(
    ("text", "rpd"),
    [
        ("2M requests/day", 2_000_000),
        ("2M/day", 2_000_000),
        ("2 million requests per day", 2_000_000),
        ("2M+ requests a day", 2_000_000),
        ("about 2.5M API calls per day", 2_500_000),
        ("2M requests daily", 2_000_000),
        ("2M daily requests", 2_000_000),
        ("60M requests a month", 2_000_000),
        ("60M requests/mo", 2_000_000),
        ("500k req/day", 500_000),
        ("1,200 requests per hour", 28_800),
        ("10 requests per minute", 14_400),
        ("70k requests per week", 10_000),
        ("traffic is 20 req/s", 1_728_000),
        ("requests per day: 2M", 2_000_000),
        ("we spend $2k/day", None),
        ("2M tokens per day", None),
        ("2M daily active users", None),
        ("we deploy 5 times a day", None),
    ],
)
def test_request_volume(text: str, rpd: float | None) -> None:
    found = extract_figures(text).requests_per_day
    if rpd is None:
        assert found is None
    else:
        assert found == pytest.approx(rpd)


@pytest.mark.parametrize(
    ("text", "tokens_in", "tokens_out"),
    [
        ("1.5k input tokens", 1_500, None),
        ("1500 input tokens", 1_500, None),
        ("300 output tokens", None, 300),
        ("input 1.5k tokens and output 300", 1_500, 300),
        ("prompts of ~2k tokens", 2_000, None),
        ("responses around 250 tokens", None, 250),
        ("1.5k in / 300 out", 1_500, 300),
        ("1.5k/300 tokens in/out", 1_500, 300),
        ("in/out: 1.5k/300", 1_500, 300),
        ("input tokens: 1,500, output tokens: 300", 1_500, 300),
        ("1.5k tokens of context and 300 tokens of output", 1_500, 300),
        ("1.2k-token prompts and 80-token replies", 1_200, 80),
        ("responses under 800ms", None, None),
        ("response time 2s", None, None),
        ("prompt caching on 80% of input", None, None),
        ("2M completions a day", None, None),
    ],
)
def test_token_counts(text: str, tokens_in: float | None, tokens_out: float | None) -> None:
    found = extract_figures(text)
    assert (found.input_tokens, found.output_tokens) == (tokens_in, tokens_out)


@pytest.mark.parametrize(
    ("text", "target_ms"),
    [
        ("p95 under 800ms", 800),
        ("latency target 2s", 2_000),
        ("below 1.2 seconds", 1_200),
        ("an SLA of 500 ms", 500),
        ("p99 must stay < 1.5s", 1_500),
        ("time to first token within 300 milliseconds", 300),
        ("sub-second answers", 1_000),
        ("response time is 4 seconds, we want 2 seconds", 2_000),
        ("our p95 is 3s", None),
        ("we batch every 5 seconds", None),
        ("under 2M requests a day", None),
    ],
)
def test_latency_target(text: str, target_ms: float | None) -> None:
    assert extract_figures(text).latency_target_ms == target_ms


@pytest.mark.parametrize(
    ("text", "models"),
    [
        ("GPT-4o", ["gpt-4o"]),
        ("gpt4o and GPT-4o-mini", ["gpt-4o", "gpt-4o-mini"]),
        ("we moved from 4o to 4o-mini", ["gpt-4o", "gpt-4o-mini"]),
        ("gpt-4.1, gpt 4.1 mini and GPT-4.1-nano", ["gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"]),
        ("claude 3.5 sonnet / Claude-3-5-Haiku / claude-3-opus", None),
        ("Sonnet 3.5 or Claude Sonnet", ["claude-3-5-sonnet"]),
        ("gemini-1.5-pro-002 and Gemini 1.5 Flash", ["gemini-1.5-pro", "gemini-1.5-flash"]),
        ("Gemini 2.0 Flash", ["gemini-2.0-flash"]),
        ("mistral-large-latest", ["mistral-large"]),
        ("Claude Sonnet 4 and Claude Opus 4.1", []),
        ("GPT-4 Turbo", []),
        ("no model mentioned here", []),
    ],
)
def test_model_spellings(text: str, models: list[str] | None) -> None:
    expected = models or []
    if models is None:
        expected = ["claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-opus"]
    assert extract_figures(text).models == expected


def test_figures_are_json_friendly() -> None:
    found = extract_figures("gpt-4o, 2M/day, 1.5k in / 300 out, p95 under 800ms")
    assert attrs.asdict(found) == {
        "models": ["gpt-4o"],
        "requests_per_day": 2_000_000.0,
        "input_tokens": 1_500.0,
        "output_tokens": 300.0,
        "latency_target_ms": 800.0,
    }
