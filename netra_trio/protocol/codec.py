"""Frames in and out: JSON text to typed messages, typed payloads to JSON text.

Decoding is split so the router can check identity on the raw object before
anything is structured. A frame that nests objects and arrays deeper than
``MAX_FRAME_DEPTH`` is refused as it is parsed: whatever the server accepts it
can write back (the JSON encoder stops at 254 levels). Encoding happens once
per frame; fan-out reuses the text for every connection of the user.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson

from netra_trio.core.limits import MAX_FRAME_DEPTH
from netra_trio.core.priority import Priority
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.protocol.client_messages import CLIENT_TYPES, ClientMessage
from netra_trio.protocol.converter import CONVERTER, describe_error, structure_client
from netra_trio.protocol.server_messages import SERVER_TYPES, ErrorPayload

_server_ids = itertools.count(1)


def parse_frame(text: str | bytes) -> dict[str, Any]:
    """A client frame as a JSON object, or INVALID_JSON / INVALID_MESSAGE."""
    # Fewer brackets than the bound (counted in C, strings included): the
    # frame cannot be too deep, and its tree need not be walked.
    may_be_deep = _brackets(text) > MAX_FRAME_DEPTH
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if may_be_deep and exc.msg.startswith("depth limit exceeded"):
            raise _too_deep("frame") from None
        raise ProtocolError(ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame must be a JSON object")
    if may_be_deep:
        for key, value in obj.items():
            if isinstance(value, dict | list) and _deeper_than(value, MAX_FRAME_DEPTH - 1):
                field = key if len(key) <= 64 else key[:64] + "..."
                raise _too_deep(field, correlation_of(obj))
    return obj


def _brackets(text: str | bytes) -> int:
    if isinstance(text, str):
        return text.count("{") + text.count("[")
    return text.count(b"{") + text.count(b"[")


def _deeper_than(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels in ``value``
    (itself the first)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _too_deep(field: str, correlation_id: str | None = None) -> ProtocolError:
    return ProtocolError(
        ErrorCode.INVALID_MESSAGE,
        f"{field}: objects and arrays nest deeper than {MAX_FRAME_DEPTH} levels"
        " (the frame itself is the first)",
        correlation_id=correlation_id,
        details={"max_depth": MAX_FRAME_DEPTH},
    )


def correlation_of(frame: dict[str, Any]) -> str | None:
    message_id = frame.get("message_id")
    return message_id if isinstance(message_id, str) else None


def decode_message(frame: dict[str, Any]) -> ClientMessage:
    """Structure a parsed frame into its typed message, naming bad fields."""
    correlation_id = correlation_of(frame)
    kind = frame.get("type")
    if "type" not in frame:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "type: required field missing", correlation_id=correlation_id
        )
    if not isinstance(kind, str):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "type: expected a string", correlation_id=correlation_id
        )
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {kind[:64]!r}",
            correlation_id=correlation_id,
        )
    if frame.get("payload", {}) is None or not isinstance(frame.get("payload", {}), dict):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "payload: expected an object", correlation_id=correlation_id
        )
    if "payload" not in frame:
        frame = {**frame, "payload": {}}
    try:
        return structure_client(frame)
    except Exception as exc:
        problems = describe_error(exc)
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            "; ".join(problems),
            correlation_id=correlation_id,
            details={"fields": problems},
        ) from None


class UnrenderableEvent(ValueError):
    """A payload that cannot be written as JSON: an integer past 64 bits, a
    string that is not Unicode text, an object JSON has no form for, or
    nesting deeper than the encoder goes."""


def render_payload(payload: dict[str, Any]) -> orjson.Fragment:
    """The payload as JSON, rendered once; ``encode`` puts it in a frame as it
    is. UnrenderableEvent when it cannot be."""
    try:
        return orjson.Fragment(orjson.dumps(payload))
    except orjson.JSONEncodeError as exc:
        raise UnrenderableEvent(str(exc)) from None


def encode(
    kind: str,
    payload: dict[str, Any] | orjson.Fragment,
    *,
    correlation_id: str | None = None,
    thread_id: str | None = None,
    run_id: str | None = None,
    seq: int | None = None,
    timestamp: float | None = None,
) -> str:
    """``timestamp`` defaults to now; an event passes the time it happened."""
    frame: dict[str, Any] = {
        "type": kind,
        "payload": payload,
        "message_id": f"s-{next(_server_ids)}",
    }
    if correlation_id is not None:
        frame["correlation_id"] = correlation_id
    if thread_id is not None:
        frame["thread_id"] = thread_id
    if run_id is not None:
        frame["run_id"] = run_id
    if seq is not None:
        frame["seq"] = seq
    frame["timestamp"] = time.time() if timestamp is None else timestamp
    return orjson.dumps(frame).decode()


def encode_payload(
    payload: object,
    *,
    correlation_id: str | None = None,
    thread_id: str | None = None,
    run_id: str | None = None,
    seq: int | None = None,
) -> tuple[str, Priority]:
    """Encode a typed server payload; returns the text and its delivery priority."""
    kind, priority = SERVER_TYPES[type(payload)]
    body: dict[str, Any] = CONVERTER.unstructure(payload)
    text = encode(
        kind, body, correlation_id=correlation_id, thread_id=thread_id, run_id=run_id, seq=seq
    )
    return text, priority


def encode_error(error: ProtocolError) -> tuple[str, Priority]:
    payload = ErrorPayload(code=str(error.code), message=error.message, details=error.details)
    return encode_payload(payload, correlation_id=error.correlation_id)


def encode_batch(frames: list[str]) -> str:
    """One ``batch`` frame around already-encoded frames, in order."""
    return '{"type":"batch","payload":{"messages":[' + ",".join(frames) + "]}}"
