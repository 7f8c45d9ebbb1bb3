"""Figures of a request: the models and numbers named in its free text.

:func:`extract_figures` reads free text for the numbers the optimization tools
need: models (canonical names from the pricing table), request volume, input and
output tokens per request and a latency target. Anything it cannot find is
``None``; it never guesses a number that is not in the text.

- Volume: ``<n>[k|M|B|thousand|million|billion] [requests|req|calls|...] /day`` in
  the forms "2M/day", "2 million requests per day", "500k req/day", "2M requests
  daily", "1,200 requests per hour" (x 24), "60M requests a month" (/ 30),
  "50 rps" (x 86,400), "/week" (/ 7), "requests per day: 2M", "daily volume of
  ~2M". "a day" / "each day" need a request noun ("2M calls a day"); "$2k/day" is
  money, never volume. The earliest mention wins.
- Tokens: a direction word (input, prompt, context / output, completion, response,
  answer, reply) next to a number: "1.5k input tokens", "input 1.5k tokens",
  "prompts of ~2k tokens", "responses around 250 tokens", "1.5k in / 300 out",
  "1.5k/300 tokens in/out"; or a verb before "<n> tokens": "sends 3k tokens",
  "returns ~400 tokens". A number followed by a time, money, percent or rate unit
  is not a token count. The earliest mention of each direction wins.
- Latency target: a duration (ms, s, seconds, minutes) preceded, since the last
  number, by a bound or goal word: "p95 under 800ms", "latency target 2s", "below
  1.2 seconds", "SLA of 500 ms", "< 300ms". A duration without one ("our p95 is
  3s") describes today, not a target. "sub-second" alone means 1000 ms.
- Models: each name and alias of the pricing table, with optional separators
  between its letters and digits ("GPT-4o", "gpt4o", "Claude 3.5 Sonnet",
  "gemini-2.0-flash-001"), longest alias first so "gpt-4o-mini" is not read as
  "gpt-4o". An alias without a version number ("claude sonnet") is skipped when a
  version follows it ("Claude Sonnet 4" is another model).

(Long, as the list above is: one pattern or helper per form of a figure.)
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import attrs

from netra_trio.agents.pricing import PricingTable, load_pricing, name_key


@attrs.frozen
class Figures:
    models: list[str]
    requests_per_day: float | None
    input_tokens: float | None
    output_tokens: float | None
    latency_target_ms: float | None

    @property
    def count(self) -> int:
        """How many figures were found: each numeric one, plus one for any model."""
        numbers = (
            self.requests_per_day,
            self.input_tokens,
            self.output_tokens,
            self.latency_target_ms,
        )
        return sum(n is not None for n in numbers) + (1 if self.models else 0)


# --- numbers -------------------------------------------------------------------

_MAGNITUDES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}


def _number(tag: str = "n") -> str:
    """A number with an optional magnitude ("1,200", "1.5k", "2 million", "2M+"),
    captured as ``<tag>`` and ``<tag>_mag``; never the tail of a word or of "$2"."""
    return (
        rf"(?<![\w$€£.,])(?P<{tag}>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)"
        rf"(?:\s?(?P<{tag}_mag>thousand|million|billion|mm|mn|bn|k|m|b)(?![a-z]))?\+?"
    )


def _value(match: re.Match[str], tag: str = "n") -> float:
    value = float(match[tag].replace(",", ""))
    magnitude = match[f"{tag}_mag"]
    return value * _MAGNITUDES[magnitude.lower()] if magnitude else value


_FILLER = (
    r"(?:is|are|was|of|at|with|has|have|runs?|running|sits?|averag(?:e|es|ing)|avg\.?|mean"
    r"|median|typically|usually|around|about|roughly|approx(?:imately|\.)?|near|nearly"
    r"|close\s+to|up\s+to|maybe|like|some|peaks?\s+at)"
)
_REQUEST_NOUN = (
    r"(?:(?:api|llm|model|chat|inference|user|customer)\s+)?"
    r"(?:requests?|reqs?|calls?|quer(?:y|ies)|completions?|generations?|inferences?"
    r"|invocations?|messages?|conversations?|chats?|prompts?|tickets?|documents?|docs|emails?)"
)
_TIME_UNIT = r"(?:second|sec|s|minute|min|hour|hr|h|day|d|week|wk|month|mo)"
_FREQUENCY = r"(?:daily|hourly|weekly|monthly)"
# Lookaheads after a number: what it must not be followed by.
_NOT_TIME_OR_MONEY = (
    r"(?!\s*(?:ms\b|msecs?\b|millis\w*|s\b|secs?\b|seconds?\b|minutes?\b|mins?\b|hours?\b"
    r"|hrs?\b|%|percent\b|x\b|times\b|usd\b|dollars?\b|cents?\b|users?\b))"
)
_NOT_A_RATE = (
    r"(?!\s*(?:/|per\b|an?\b|each\b|every\b)\s*" + _TIME_UNIT + r"\b)"
    r"(?!\s*(?:" + _FREQUENCY + r"|rps|qps|rpm|rpd)\b)"
)
_NOT_TOKENS = _NOT_TIME_OR_MONEY + _NOT_A_RATE + r"(?!\s*" + _REQUEST_NOUN + r"\b)"

# --- request volume ----------------------------------------------------------------

_PER_DAY = {
    "second": 86_400.0,
    "minute": 1_440.0,
    "hour": 24.0,
    "day": 1.0,
    "week": 1 / 7,
    "month": 1 / 30,
}
_UNIT_WORDS = {
    "s": "second",
    "sec": "second",
    "second": "second",
    "rps": "second",
    "qps": "second",
    "min": "minute",
    "minute": "minute",
    "rpm": "minute",
    "h": "hour",
    "hr": "hour",
    "hour": "hour",
    "hourly": "hour",
    "d": "day",
    "day": "day",
    "daily": "day",
    "rpd": "day",
    "wk": "week",
    "week": "week",
    "weekly": "week",
    "mo": "month",
    "month": "month",
    "monthly": "month",
}
_VOLUME_RES = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # "2M requests/day", "2M/day", "2 million requests per day", "2M calls a day",
        # "2M requests daily"
        _number()
        + r"\s*(?:(?P<noun>"
        + _REQUEST_NOUN
        + r")\s*)?(?:(?P<sep>/|per\b|an?\b|each\b|every\b)\s*(?P<unit>"
        + _TIME_UNIT
        + r")\b|(?P<frequency>"
        + _FREQUENCY
        + r")\b)",
        # "50 rps", "300 QPS"
        _number() + r"\s*(?P<unit>rps|qps|rpm|rpd)\b",
        # "2M daily requests"
        _number() + r"\s*(?P<frequency>" + _FREQUENCY + r")\s+" + _REQUEST_NOUN + r"\b",
        # "requests per day: 2M", "daily requests of about 2M", "daily volume ~2M"
        r"\b(?:"
        + _REQUEST_NOUN
        + r"\s*(?:/|per\b|an?\b)\s*(?P<unit>"
        + _TIME_UNIT
        + r")|(?P<frequency>"
        + _FREQUENCY
        + r")\s+(?:"
        + _REQUEST_NOUN
        + r"|volume|traffic))\b[\s:=~≈]*(?:"
        + _FILLER
        + r"[\s~≈]+){0,2}"
        + _number()
        + _NOT_TIME_OR_MONEY
        + r"(?!\s*tok)",
    )
)


def _requests_per_day(text: str) -> float | None:
    best: tuple[int, float] | None = None
    for pattern in _VOLUME_RES:
        for match in pattern.finditer(text):
            groups = match.groupdict()
            if "sep" in groups and groups["noun"] is None and groups["sep"] not in ("/", "per"):
                continue  # "5 a day" or "2M daily" is not a request rate without a noun
            unit = groups.get("unit") or groups.get("frequency")
            assert unit is not None
            per_day = _value(match) * _PER_DAY[_UNIT_WORDS[unit.lower()]]
            if best is None or match.start() < best[0]:
                best = (match.start(), per_day)
            break  # the first match of each pattern competes
    return best[1] if best is not None else None


# --- tokens per request --------------------------------------------------------

_INPUT_WORDS = frozenset({"input", "prompt", "context", "in", "send", "sending", "read", "reading"})
_OUTPUT_WORDS = frozenset(
    {
        "output",
        "completion",
        "response",
        "answer",
        "reply",
        "replie",
        "generation",
        "out",
        "return",
        "returning",
        "generate",
        "generating",
        "produce",
        "producing",
        "emit",
        "emitting",
        "write",
        "writing",
    }
)
_TOKENS = r"(?:tokens?|toks?)"
_IN_THE = r"(?:of\s+|in\s+(?:the\s+|each\s+|every\s+|a\s+)?)?"
_TOKEN_RES = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # "1.5k/300 tokens in/out", "in/out: 1.5k/300"
        _number("i")
        + r"\s*/\s*"
        + _number("o")
        + r"\s*(?:"
        + _TOKENS
        + r"\s*)?\(?\s*(?:in\s*/\s*out|input\s*/\s*output|prompt\s*/\s*completion)\b"
        + r"|\b(?:in\s*/\s*out|input\s*/\s*output|prompt\s*/\s*completion)\s*(?:"
        + _TOKENS
        + r")?[\s:=]*(?:of\s+)?[~≈]?\s*"
        + _number("i2")
        + r"\s*/\s*"
        + _number("o2"),
        # "input 1.5k tokens", "prompts of ~2k tokens", "responses around 250", "output: 300"
        r"\b(?P<word>inputs?|prompts?|context|outputs?|completions?|responses?|answers?"
        r"|repl(?:y|ies)|generations?)(?:\s+(?:"
        + _TOKENS
        + r"|lengths?|sizes?))?[\s:=~≈]*(?:"
        + _FILLER
        + r"[\s:=~≈]+){0,3}[~≈]?\s*"
        + _number()
        + _NOT_TOKENS,
        # "sends 1.5k tokens", "returns ~300 tokens": verbs need "tokens"
        r"\b(?P<word>sends?|sending|reads?|reading|returns?|returning|generates?|generating"
        r"|produces?|producing|emits?|emitting|writes?|writing)\s+(?:"
        + _FILLER
        + r"\s+){0,2}[~≈]?\s*"
        + _number()
        + r"\s*(?:output\s+|input\s+)?"
        + _TOKENS
        + r"\b",
        # "1500 input tokens", "300 output", "1.5k tokens of input", "1.5k tokens in the prompt"
        _number()
        + r"[\s-]*(?:"
        + _TOKENS
        + r")?[\s-]*"
        + _IN_THE
        + r"(?P<word>input|context|output)s?\b"
        + _NOT_A_RATE,
        # "1.5k token prompts", "250-token responses": these words need "tokens"
        _number()
        + r"[\s-]*"
        + _TOKENS
        + r"[\s-]*"
        + _IN_THE
        + r"(?P<word>prompt|completion|response|answer|repl(?:y|ie)|generation)s?\b"
        + _NOT_A_RATE,
        # "1.5k in / 300 out", "300 tokens out.", "300 out at 100k calls a day" (but not
        # "1 in 5 requests" or "500 in total")
        _number() + r"\s*(?:" + _TOKENS + r"\s*)?(?P<word>in|out)"
        r"(?=\s*(?:[/,;.)&+-]|(?:and|at|per|each|with|for|on)\b|$))",
    )
)


def _direction(word: str) -> Literal["input", "output"] | None:
    stem = word.lower()
    if stem not in _INPUT_WORDS | _OUTPUT_WORDS and stem.endswith("s"):
        stem = stem[:-1]  # inputs, responses, replies, sends
    if stem in _INPUT_WORDS:
        return "input"
    if stem in _OUTPUT_WORDS:
        return "output"
    return None


def _token_counts(text: str) -> tuple[float | None, float | None]:
    """Input and output tokens per request: for each, the earliest mention. A
    mention inside an "in/out" pair is not read again by the other patterns."""
    found: dict[str, tuple[int, float]] = {}
    taken: list[tuple[int, int]] = []

    def note(direction: str | None, start: int, value: float) -> None:
        if direction is not None and (direction not in found or start < found[direction][0]):
            found[direction] = (start, value)

    pair, *others = _TOKEN_RES
    for match in pair.finditer(text):
        taken.append(match.span())
        first, second = ("i", "o") if match["i"] is not None else ("i2", "o2")
        note("input", match.start(), _value(match, first))
        note("output", match.start(), _value(match, second))
    for pattern in others:
        for match in pattern.finditer(text):
            start, end = match.span()
            if all(end <= a or start >= b for a, b in taken):
                note(_direction(match["word"]), start, _value(match))
    input_tokens = found["input"][1] if "input" in found else None
    output_tokens = found["output"][1] if "output" in found else None
    return input_tokens, output_tokens


# --- latency target -------------------------------------------------------------

_DURATION_RE = re.compile(
    r"(?<![\w.,])(?P<n>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>ms|msecs?|millis(?:econds?)?|milliseconds?|s|secs?|seconds?|mins?|minutes?)\b",
    re.IGNORECASE,
)
_BOUND_RE = re.compile(
    r"\b(?:under|below|within|less\s+than|at\s+most|no\s+(?:more|longer|slower)\s+than"
    r"|faster\s+than|max(?:imum)?|target(?:s|ing|ed)?|goal|budget|sla|slo|need|needs"
    r"|want|wants|require[sd]?|must|should|down\s+to|aim(?:ing)?)\b"
    r"|<=?|≤",
    re.IGNORECASE,
)
_SUB_SECOND_RE = re.compile(r"\bsub[- ]?second\b", re.IGNORECASE)


def _unit_ms(unit: str) -> float:
    unit = unit.lower()
    if unit.startswith("m") and not unit.startswith("min"):
        return 1.0  # ms, msec, millis, milliseconds
    if unit.startswith("min"):
        return 60_000.0
    return 1000.0  # s, sec, seconds


def _latency_target_ms(text: str) -> float | None:
    for match in _DURATION_RE.finditer(text):
        start = match.start()
        floor = max(
            0,
            start - 60,
            *(text.rfind(c, 0, start) + 1 for c in ".;!?\n"),
        )
        window = text[floor:start]
        digits = [m.end() for m in re.finditer(r"\d", window)]
        if digits:
            window = window[digits[-1] :]
        if _BOUND_RE.search(window):
            return float(match["n"]) * _unit_ms(match["unit"])
    if _SUB_SECOND_RE.search(text):
        return 1000.0
    return None


# --- models --------------------------------------------------------------------------

# A quantity's unit: "2M", "2 million", "300 tokens", "800ms", "50%", "2M/day".
_UNIT = (
    r"(?:(?:k|m|b|mm|mn|bn|thousand|million|billion)(?![a-z])|%|/|x\b|[a-z]*req|calls?\b"
    r"|tok|ms\b|s\b|sec)"
)
# After an alias without a version ("claude sonnet"): no version number ("4", "3.7"),
# though a quantity may follow ("mistral large 2M requests a day").
_NO_VERSION_AFTER = r"(?![\s_-]*v?\d+(?:\.\d+)?(?![\d.,]*\s*" + _UNIT + r"))"
# After an alias ending in a digit ("mistral large 2"): that digit must not start a
# quantity ("mistral large 2 million requests a day").
_NO_QUANTITY_AFTER = r"(?![\d.,]*\s*" + _UNIT + r")"


def _alias_pattern(alias: str) -> str:
    chars = name_key(alias)
    body = r"[\s._-]{0,2}".join(re.escape(c) for c in chars)
    if not any(c.isdigit() for c in chars):
        guard = _NO_VERSION_AFTER
    elif chars[-1].isdigit():
        guard = _NO_QUANTITY_AFTER
    else:
        guard = ""
    return rf"(?<![a-z0-9]){body}(?![a-z0-9]){guard}"


@functools.lru_cache(maxsize=8)
def _model_regex(table: PricingTable) -> tuple[re.Pattern[str], tuple[str, ...]]:
    entries = sorted(
        {(name_key(a), model.name) for model in table for a in (model.name, *model.aliases)},
        key=lambda e: (-len(e[0]), e[0]),
    )
    groups = "|".join(f"(?P<m{i}>{_alias_pattern(alias)})" for i, (alias, _) in enumerate(entries))
    return re.compile(groups, re.IGNORECASE), tuple(name for _, name in entries)


def _models(text: str, table: PricingTable) -> tuple[list[str], str]:
    """The canonical names found, in order of first mention, and ``text`` with every
    model mention blanked out (so "gpt-4.1" or "llama 3.1 70b" are not read as numbers)."""
    pattern, names = _model_regex(table)
    found: list[str] = []
    masked = text
    for match in pattern.finditer(text):
        assert match.lastgroup is not None
        name = names[int(match.lastgroup[1:])]
        if name not in found:
            found.append(name)
        start, end = match.span()
        masked = masked[:start] + " " * (end - start) + masked[end:]
    return found, masked


# --- the public helper ----------------------------------------------------------------


def extract_figures(text: str, table: PricingTable | None = None) -> Figures:
    """The models and numbers named in ``text``; ``None`` for each one not found."""
    models, rest = _models(text, table if table is not None else load_pricing())
    input_tokens, output_tokens = _token_counts(rest)
    return Figures(
        models=models,
        requests_per_day=_requests_per_day(rest),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_target_ms=_latency_target_ms(rest),
    )
