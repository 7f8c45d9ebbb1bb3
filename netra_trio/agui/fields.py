"""Reading the fields of an AG-UI event (a parsed JSON object), and a tool call's arguments.

A field that the mapping uses must be there with the right type: otherwise
``AGENT_PROTOCOL_ERROR``, naming the event and the field. Fields it does not
use are not looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from netra_trio.agui.errors import protocol_error


def parse_arguments(text: str) -> dict[str, Any]:
    """A tool call's joined arguments as the ``arguments`` of ``tool_executing``."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def text_field(event: Mapping[str, Any], kind: str, field: str) -> str:
    value = event.get(field)
    if not isinstance(value, str):
        raise protocol_error(f"the agent endpoint sent {kind} without {field}")
    return value


def optional_text(event: Mapping[str, Any], kind: str, field: str) -> str | None:
    value = event.get(field)
    if value is not None and not isinstance(value, str):
        raise protocol_error(f"the agent endpoint sent {kind} whose {field} is not a string")
    return value


def id_field(event: Mapping[str, Any], kind: str, field: str) -> str:
    value = text_field(event, kind, field)
    if not value:
        raise protocol_error(f"the agent endpoint sent {kind} with an empty {field}")
    return value


def optional_id(event: Mapping[str, Any], kind: str, field: str) -> str | None:
    return id_field(event, kind, field) if event.get(field) is not None else None
