"""Field validators whose errors name the field, for readable INVALID_MESSAGE replies.

Each validator is a small frozen class rather than a closure, so that its
bounds can be read back: the AsyncAPI document (``asyncapi.py``) states them
in the JSON Schema of the field.
"""

from __future__ import annotations

from typing import Any

import attrs


class FieldError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@attrs.frozen
class TextLength:
    """``low`` to ``high`` characters."""

    low: int
    high: int

    def __call__(self, _: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        if not self.low <= len(value) <= self.high:
            raise FieldError(
                attribute.name,
                f"must be {self.low} to {self.high:,} characters, got {len(value):,}",
            )


@attrs.frozen
class IntRange:
    """At least ``low``, and at most ``high`` when given; None passes (an
    optional field left out)."""

    low: int
    high: int | None = None

    def __call__(self, _: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is None:
            return
        if value < self.low or (self.high is not None and value > self.high):
            bound = (
                f"{self.low} to {self.high}" if self.high is not None else f"at least {self.low}"
            )
            raise FieldError(attribute.name, f"must be {bound}, got {value}")


@attrs.frozen
class MaxItems:
    """At most ``high`` items."""

    high: int

    def __call__(self, _: Any, attribute: attrs.Attribute[Any], value: list[Any]) -> None:
        if len(value) > self.high:
            raise FieldError(attribute.name, f"holds at most {self.high} items, got {len(value)}")


def text_length(low: int, high: int) -> TextLength:
    return TextLength(low, high)


def int_range(low: int, high: int | None = None) -> IntRange:
    return IntRange(low, high)


def max_items(high: int) -> MaxItems:
    return MaxItems(high)
