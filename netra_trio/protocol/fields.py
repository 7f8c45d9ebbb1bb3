"""Field validators whose errors name the field, for readable INVALID_MESSAGE replies."""

from __future__ import annotations

from typing import Any

import attrs


class FieldError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def text_length(low: int, high: int) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        if not low <= len(value) <= high:
            raise FieldError(
                attribute.name, f"must be {low} to {high:,} characters, got {len(value):,}"
            )

    return check


def int_range(low: int, high: int | None = None) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is None:
            return
        if value < low or (high is not None and value > high):
            bound = f"{low} to {high}" if high is not None else f"at least {low}"
            raise FieldError(attribute.name, f"must be {bound}, got {value}")

    return check


def max_items(high: int) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: list[Any]) -> None:
        if len(value) > high:
            raise FieldError(attribute.name, f"holds at most {high} items, got {len(value)}")

    return check
