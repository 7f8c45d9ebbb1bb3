"""The AsyncAPI document for tests: a JSON Schema validator of any of its frames."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from netra_trio.protocol.asyncapi import document


@cache
def frame_validator(key: str) -> Draft7Validator:
    """Validates a frame against ``components.schemas[key]`` of the document
    (``client.TYPE`` or ``server.TYPE``), references resolved within it."""
    doc: dict[str, Any] = document()
    if key not in doc["components"]["schemas"]:
        raise KeyError(f"the AsyncAPI document has no frame {key!r}")
    # draft-07: a $ref stands for the whole schema, and "#/..." points into this document
    return Draft7Validator({**doc, "$ref": f"#/components/schemas/{key}"})


def frame_errors(key: str, frame: Any) -> list[str]:
    """What is wrong with ``frame`` as a ``key`` frame (empty when it is valid)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or 'frame'}: {error.message}"
        for error in frame_validator(key).iter_errors(frame)
    ]
