"""The one cattrs converter of the project, and readable validation errors.

Strict about JSON types: a number is not accepted where a string is expected
(nor a bool where a number is), an integer must be within the protocol's range
(``-MAX_INTEGER`` to ``MAX_INTEGER``, ``core/limits.py``), extra keys are
refused, and client messages
are a tagged union on ``type``. :func:`describe_error` turns a cattrs error
tree into ``path: reason`` lines that name the offending field.

Server payloads (read by the Python clients, never by the server) are as
strict about types but accept fields they do not know, so that a client
keeps working with a newer server that adds one.
"""

from __future__ import annotations

from typing import Any, Union

from cattrs import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.orjson import OrjsonConverter
from cattrs.preconf.orjson import make_converter as _make_orjson_converter
from cattrs.strategies import configure_tagged_union

from netra_trio.core.limits import MAX_INTEGER
from netra_trio.protocol.client_messages import CLIENT_MESSAGES, ClientMessage
from netra_trio.protocol.fields import FieldError
from netra_trio.protocol.server_messages import SERVER_PAYLOAD_CLASSES


class _WrongType(TypeError):
    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(f"expected {expected}, got {_json_kind(value)}")


class _OutOfRange(ValueError):
    def __init__(self, value: int | float) -> None:
        got = value if isinstance(value, int) else f"about {value:.6g}"
        super().__init__(
            f"out of the protocol's integer range (-{MAX_INTEGER} to {MAX_INTEGER}), got {got}"
        )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _WrongType("a string", value)
    return value


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, float) and value.is_integer() and abs(value) > MAX_INTEGER:
        raise _OutOfRange(value)  # an integer too large for 64 bits is read as a float
    if isinstance(value, bool) or not isinstance(value, int):
        raise _WrongType("an integer", value)
    if not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise _OutOfRange(value)
    return value


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _WrongType("a number", value)
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise _WrongType("a boolean", value)
    return value


def _strict_object(value: Any, _: type) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _WrongType("an object", value)
    return value


def _strict_list_of_objects(value: Any, _: type) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _WrongType("an array", value)
    for item in value:
        if not isinstance(item, dict):
            raise _WrongType("an array of objects", item)
    return value


ClientUnion = Union[*CLIENT_MESSAGES]  # type: ignore[valid-type]


def _type_tag(cls: type) -> str:
    tag: str = getattr(cls, "TYPE")  # noqa: B009
    return tag


def make_converter() -> OrjsonConverter:
    converter = _make_orjson_converter(
        forbid_extra_keys=True, detailed_validation=True, omit_if_default=True
    )
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook_func(lambda t: t == dict[str, Any], _strict_object)
    converter.register_structure_hook_func(
        lambda t: t == list[dict[str, Any]], _strict_list_of_objects
    )
    configure_tagged_union(ClientUnion, converter, tag_name="type", tag_generator=_type_tag)
    for cls in SERVER_PAYLOAD_CLASSES:
        hook = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False)
        converter.register_structure_hook(cls, hook)
    return converter


CONVERTER = make_converter()


def structure_client(frame: dict[str, Any]) -> ClientMessage:
    message: ClientMessage = CONVERTER.structure(frame, ClientUnion)
    return message


def describe_error(exc: BaseException, path: str = "") -> list[str]:
    """``path: reason`` lines for a structuring failure, one per offending field."""
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        lines = [
            ln for sub, note in with_notes for ln in describe_error(sub, _join(path, note.name))
        ]
        return lines + [ln for sub in without for ln in describe_error(sub, path)]
    if isinstance(exc, IterableValidationError):
        with_inotes, without_i = exc.group_exceptions()
        lines = [
            ln for sub, inote in with_inotes for ln in describe_error(sub, f"{path}[{inote.index}]")
        ]
        return lines + [ln for sub in without_i for ln in describe_error(sub, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        names = ", ".join(f"'{_join(path, k)}'" for k in sorted(exc.extra_fields))
        return [f"unknown field {names}"]
    if isinstance(exc, FieldError):
        return [f"{_join(path, exc.field)}: {exc.reason}"]
    if isinstance(exc, KeyError):
        return [f"{path or 'frame'}: required field missing"]
    if isinstance(exc, _WrongType | _OutOfRange):
        return [f"{path or 'frame'}: {exc}"]
    return [f"{path or 'frame'}: invalid value"]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
