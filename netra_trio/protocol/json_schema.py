"""The JSON Schema of a message class, read off its attrs fields.

What the converter (``converter.py``) accepts and writes, stated as JSON Schema
(draft-07, which AsyncAPI's Schema Object extends): a field without a default
is required, one with a default is not (the converter leaves a default out of
what it writes); ``str``, ``int``, ``float``, ``bool``, ``Any``, objects
(``dict[str, Any]``), lists, ``X | None`` and nested attrs classes; unknown
keys are refused. An integer is bounded by the protocol's range, and a field's
validator (``fields.py``) adds its own bounds. A type or a validator that this
module cannot state raises ``TypeError``, so that nothing a class checks is
silently left out of the contract.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Union, get_args, get_origin

import attrs

from netra_trio.core.limits import MAX_INTEGER
from netra_trio.protocol.fields import IntRange, MaxItems, TextLength

Schema = dict[str, Any]

_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    Any: {},
}


def object_schema(cls: type) -> Schema:
    """The schema of an attrs class: its fields as properties, in order."""
    attrs.resolve_types(cls)
    properties: Schema = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        schema = _with_bounds(
            type_schema(field.type), field.validator, f"{cls.__name__}.{field.name}"
        )
        if field.default is attrs.NOTHING:
            required.append(field.name)
        else:
            schema["default"] = _default_value(field.default)
        properties[field.name] = schema
    result: Schema = {"type": "object"}
    if cls.__doc__:
        result["description"] = inspect.cleandoc(cls.__doc__)
    result["properties"] = properties
    if required:
        result["required"] = required
    result["additionalProperties"] = False
    return result


def type_schema(tp: Any) -> Schema:
    """The schema of one field type."""
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is int:
        return {"type": "integer", "minimum": -MAX_INTEGER, "maximum": MAX_INTEGER}
    if attrs.has(tp):
        return object_schema(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is dict and args == (str, Any):
        return {"type": "object"}
    if origin is list:
        return {"type": "array", "items": type_schema(args[0])}
    if origin in (Union, types.UnionType) and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return _nullable(type_schema(inner))
    raise TypeError(f"no JSON Schema for the type {tp!r}")


def _nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind is None:  # already any value, null included
        return schema
    return {**schema, "type": [kind, "null"]}


def _with_bounds(schema: Schema, validator: Any, where: str) -> Schema:
    if validator is None:
        return schema
    if isinstance(validator, TextLength):
        return {**schema, "minLength": validator.low, "maxLength": validator.high}
    if isinstance(validator, IntRange):
        bounded = {**schema, "minimum": max(validator.low, schema["minimum"])}
        if validator.high is not None:
            bounded["maximum"] = min(validator.high, schema["maximum"])
        return bounded
    if isinstance(validator, MaxItems):
        return {**schema, "maxItems": validator.high}
    raise TypeError(f"{where}: no JSON Schema for the validator {validator!r}")


def _default_value(default: Any) -> Any:
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()
    return default
