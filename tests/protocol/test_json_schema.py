"""JSON Schemas read off attrs classes: types, required and defaulted fields,
the bounds of the field validators, and a clear refusal of what cannot be stated."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from jsonschema import Draft7Validator

from netra_trio.core.limits import MAX_CONTENT_CHARS, MAX_INTEGER
from netra_trio.protocol import client_messages as cm
from netra_trio.protocol import server_messages as sm
from netra_trio.protocol.fields import int_range, max_items, text_length
from netra_trio.protocol.json_schema import object_schema, type_schema


@attrs.frozen
class Inner:
    """An inner object."""

    name: str


@attrs.frozen(kw_only=True)
class Everything:
    text: str = attrs.field(validator=text_length(2, 5))
    count: int = attrs.field(validator=int_range(0))
    level: int | None = attrs.field(default=None, validator=int_range(-(2**60), 2**60))
    ratio: float = 0.5
    flag: bool = False
    anything: Any = ""
    obj: dict[str, Any] = attrs.Factory(dict)
    items: list[dict[str, Any]] = attrs.field(factory=list, validator=max_items(3))
    inners: list[Inner] = attrs.Factory(list)
    maybe: Inner | None = None
    names: list[str] | None = None
    whatever: Any | None = None


def test_every_supported_type_and_bound() -> None:
    schema = object_schema(Everything)
    assert "description" not in schema  # no docstring
    assert schema["required"] == ["text", "count"]
    assert schema["additionalProperties"] is False
    p = schema["properties"]
    assert p["text"] == {"type": "string", "minLength": 2, "maxLength": 5}
    assert p["count"] == {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER}
    # a validator's bound never widens the protocol's integer range
    assert p["level"] == {
        "type": ["integer", "null"],
        "minimum": -MAX_INTEGER,
        "maximum": MAX_INTEGER,
        "default": None,
    }
    assert p["ratio"] == {"type": "number", "default": 0.5}
    assert p["flag"] == {"type": "boolean", "default": False}
    assert p["anything"] == {"default": ""}
    assert p["obj"] == {"type": "object", "default": {}}
    assert p["items"] == {
        "type": "array",
        "items": {"type": "object"},
        "maxItems": 3,
        "default": [],
    }
    inner = {
        "type": "object",
        "description": "An inner object.",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    assert p["inners"] == {"type": "array", "items": inner, "default": []}
    assert p["maybe"] == {**inner, "type": ["object", "null"], "default": None}
    assert p["names"] == {"type": ["array", "null"], "items": {"type": "string"}, "default": None}
    assert p["whatever"] == {"default": None}
    Draft7Validator.check_schema(schema)


def test_the_schema_accepts_and_refuses_as_the_bounds_say() -> None:
    validator = Draft7Validator(object_schema(Everything))
    assert validator.is_valid({"text": "ab", "count": 0})
    assert validator.is_valid({"text": "abcde", "count": 3, "level": None, "maybe": None})
    for bad in (
        {"text": "a", "count": 0},
        {"text": "abcdef", "count": 0},
        {"text": "ab", "count": -1},
        {"text": "ab", "count": MAX_INTEGER + 1},
        {"text": "ab", "count": 1.5},
        {"text": "ab", "count": 0, "items": [{}, {}, {}, {}]},
        {"text": "ab", "count": 0, "inners": [{"name": 1}]},
        {"text": "ab", "count": 0, "unknown": 1},
        {"count": 0},
    ):
        assert not validator.is_valid(bad), bad


def test_a_message_class_with_its_docstring_and_bounds() -> None:
    schema = object_schema(cm.ContentPayload)
    assert schema["properties"]["content"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_CONTENT_CHARS,
    }
    history = object_schema(cm.ThreadHistoryPayload)["properties"]["limit"]
    assert (history["minimum"], history["maximum"]) == (1, 1000)
    assert object_schema(sm.ResumeComplete)["description"].startswith("Ends a replay")


def test_a_type_without_a_json_schema_is_refused() -> None:
    with pytest.raises(TypeError, match="no JSON Schema for the type"):
        type_schema(dict[str, int])
    with pytest.raises(TypeError, match="no JSON Schema for the type"):
        type_schema(int | str)


def _bad(_: Any, __: Any, value: Any) -> None:
    """A validator that cannot be stated as a bound."""


@attrs.frozen
class Unstatable:
    value: str = attrs.field(validator=_bad)


def test_a_validator_without_a_json_schema_is_refused_and_named() -> None:
    with pytest.raises(TypeError, match=r"Unstatable\.value: no JSON Schema for the validator"):
        object_schema(Unstatable)
