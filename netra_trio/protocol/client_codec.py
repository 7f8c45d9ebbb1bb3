"""Typed client messages to the JSON text a client sends."""

from __future__ import annotations

from typing import Any

import orjson

from netra_trio.protocol.client_messages import ClientMessage
from netra_trio.protocol.converter import CONVERTER


def encode_client_message(message: ClientMessage) -> str:
    """``{"type": ..., "payload": ..., envelope fields that are set}``."""
    if not message.TYPE:
        raise TypeError(f"{type(message).__name__} is not a protocol message type")
    body: dict[str, Any] = CONVERTER.unstructure(message)
    return orjson.dumps({"type": message.TYPE, **body}).decode()
