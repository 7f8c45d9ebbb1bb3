"""The LLM pricing table: list prices, discounts, quality tiers and latency figures.

Owns ``data/pricing.json`` (versioned and dated package data) and its typed form,
:class:`PricingTable` of :class:`ModelPrice`. The table is read-only, so
:func:`load_pricing` parses it once and caches the result. Validation happens at
construction: a malformed table (a negative price, a cached price not below the
input price, two models claiming one alias) fails loudly at load, never in the
middle of an agent run.

Name matching (:meth:`PricingTable.lookup`) ignores case and punctuation, so
"GPT-4o", "gpt4o" and "gpt 4o" are one key, and "claude 3.5 sonnet" matches the
alias "claude-3.5-sonnet". A provider prefix ("openai/gpt-4o") and dated or
versioned snapshot suffixes ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022",
"gemini-1.5-pro-002", "mistral-large-latest") are stripped when the full name is
not found.
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal, cast

import attrs

QualityTier = Literal["frontier", "mid", "small"]
# Best first: a substitute "one tier below" is the next entry.
TIERS: tuple[QualityTier, ...] = ("frontier", "mid", "small")

_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\.\d+$")
# One trailing snapshot marker: a date, a build number, "latest", a "-v2:0" revision.
_SNAPSHOT_SUFFIX_RE = re.compile(
    r"[-_@: ](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest|preview|exp|v\d+(?::\d+)?)$"
)


def name_key(name: str) -> str:
    """The matching key of a model name: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def tier_below(tier: QualityTier) -> QualityTier | None:
    """The next lower quality tier, or ``None`` below ``"small"``."""
    index = TIERS.index(tier)
    return TIERS[index + 1] if index + 1 < len(TIERS) else None


@attrs.frozen
class ModelPrice:
    """One model's list prices (USD per 1M tokens) and typical latency."""

    name: str
    provider: str
    aliases: tuple[str, ...]
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None  # None: no prompt-cache discount
    batch_discount: float | None  # fraction off via the batch API, None: no batch API
    quality_tier: QualityTier
    time_to_first_token_ms: float
    output_tokens_per_s: float
    notes: str = ""

    def __attrs_post_init__(self) -> None:
        def fail(what: str) -> ValueError:
            return ValueError(f"pricing: model {self.name!r}: {what}")

        if not self.name.strip() or not name_key(self.name):
            raise fail("name must not be empty")
        for field in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0):
                raise fail(f"{field} must be a positive number, got {value!r}")
        if self.cached_input_per_mtok is not None and not (
            math.isfinite(self.cached_input_per_mtok)
            and 0 < self.cached_input_per_mtok < self.input_per_mtok
        ):
            raise fail(
                "cached_input_per_mtok must be positive and below input_per_mtok, "
                f"got {self.cached_input_per_mtok!r}"
            )
        if self.batch_discount is not None and not 0 < self.batch_discount < 1:
            raise fail(f"batch_discount must be in (0, 1), got {self.batch_discount!r}")
        if self.quality_tier not in TIERS:
            raise fail(f"quality_tier must be one of {TIERS}, got {self.quality_tier!r}")
        for field in ("time_to_first_token_ms", "output_tokens_per_s"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0):
                raise fail(f"{field} must be a positive number, got {value!r}")

    @property
    def keys(self) -> frozenset[str]:
        """The matching keys of the name and every alias."""
        return frozenset(name_key(n) for n in (self.name, *self.aliases))


@attrs.frozen
class PricingTable:
    """A dated, versioned set of :class:`ModelPrice`, searchable by name or alias."""

    version: str  # "YYYY-MM-DD.N"
    source_date: str  # "YYYY-MM-DD": when the prices were read from the source
    source: str
    currency: str
    models: tuple[ModelPrice, ...]
    notes: str = ""

    def __attrs_post_init__(self) -> None:
        if not _VERSION_RE.match(self.version):
            raise ValueError(f"pricing: version must look like YYYY-MM-DD.N, got {self.version!r}")
        try:
            datetime.date.fromisoformat(self.source_date)
        except ValueError:
            raise ValueError(
                f"pricing: source_date must be YYYY-MM-DD, got {self.source_date!r}"
            ) from None
        owner: dict[str, str] = {}
        for model in self.models:
            for key in model.keys:
                if owner.setdefault(key, model.name) != model.name:
                    raise ValueError(
                        f"pricing: {key!r} names both {owner[key]!r} and {model.name!r}"
                    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PricingTable:
        """Build a table from the JSON layout of ``data/pricing.json``."""
        models = data.get("models")
        if not isinstance(models, list) or not models:
            raise ValueError("pricing: 'models' must be a non-empty list")
        return cls(
            version=_string(data, "version", "table"),
            source_date=_string(data, "source_date", "table"),
            source=_string(data, "source", "table"),
            currency=_string(data, "currency", "table"),
            models=tuple(_model_from_dict(m) for m in models),
            notes=str(data.get("notes", "")),
        )

    def __iter__(self) -> Iterator[ModelPrice]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def lookup(self, name: str) -> ModelPrice | None:
        """The model called ``name`` (or one of its aliases), case and punctuation aside.

        Tries the name as given, without a ``provider/`` prefix, then with snapshot
        suffixes stripped one at a time. ``None`` when nothing matches.
        """
        candidate = name.strip().lower().rsplit("/", 1)[-1]
        while candidate:
            key = name_key(candidate)
            for model in self.models:
                if key and key in model.keys:
                    return model
            stripped = _SNAPSHOT_SUFFIX_RE.sub("", candidate)
            if stripped == candidate:
                return None
            candidate = stripped
        return None


def _string(data: Mapping[str, Any], field: str, where: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"pricing: {where}: {field!r} must be a non-empty string")
    return value


def _float(data: Mapping[str, Any], field: str, where: str) -> float:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"pricing: {where}: {field!r} must be a number, got {value!r}")
    return float(value)


def _optional_float(data: Mapping[str, Any], field: str, where: str) -> float | None:
    if field not in data:
        raise ValueError(f"pricing: {where}: {field!r} is required (a number or null)")
    return None if data[field] is None else _float(data, field, where)


def _model_from_dict(data: Any) -> ModelPrice:
    if not isinstance(data, Mapping):
        raise ValueError(f"pricing: each model must be an object, got {data!r}")
    name = _string(data, "name", "model")
    where = f"model {name!r}"
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ValueError(f"pricing: {where}: 'aliases' must be a list of non-empty strings")
    tier = data.get("quality_tier")
    if tier not in TIERS:
        raise ValueError(f"pricing: {where}: 'quality_tier' must be one of {TIERS}, got {tier!r}")
    return ModelPrice(
        name=name,
        provider=_string(data, "provider", where),
        aliases=tuple(aliases),
        input_per_mtok=_float(data, "input_per_mtok", where),
        output_per_mtok=_float(data, "output_per_mtok", where),
        cached_input_per_mtok=_optional_float(data, "cached_input_per_mtok", where),
        batch_discount=_optional_float(data, "batch_discount", where),
        quality_tier=cast(QualityTier, tier),
        time_to_first_token_ms=_float(data, "time_to_first_token_ms", where),
        output_tokens_per_s=_float(data, "output_tokens_per_s", where),
        notes=str(data.get("notes", "")),
    )


@functools.cache
def load_pricing() -> PricingTable:
    """The packaged pricing table, parsed once (it is read-only package data)."""
    resource = importlib.resources.files("netra_trio.agents") / "data" / "pricing.json"
    return PricingTable.from_dict(json.loads(resource.read_text(encoding="utf-8")))
