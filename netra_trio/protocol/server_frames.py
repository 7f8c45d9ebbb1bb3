"""Server frames as the clients read them: JSON text to typed frames.

A :class:`ServerFrame` is the envelope (``type``, ``message_id``,
``correlation_id``, ``thread_id``, ``run_id``, ``seq``, ``timestamp``) with
its payload structured into the protocol's class for that ``type``
(``server_messages.py``) through the one converter. What a newer server may
send does not break an older client: unknown envelope and payload fields are
ignored, and a frame of an unknown ``type`` (or ``pong``, which echoes any
object, or a payload that does not match its class) keeps its payload as the
JSON object it was. A ``batch`` frame is unpacked into its frames, in order.
What is not a protocol frame at all (not a JSON object, no ``type``, an
envelope field of the wrong JSON type) raises :class:`MalformedServerFrame`.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs
import orjson

from netra_trio.protocol.converter import CONVERTER
from netra_trio.protocol.server_messages import (
    SERVER_TYPES,
    AgentCompleted,
    AgentError,
    AgentOutput,
    AgentStarted,
    AgentThinking,
    ConnectionEstablished,
    ErrorPayload,
    HeartbeatAck,
    MessageAck,
    ResumeComplete,
    SessionState,
    ThreadHistory,
    Threads,
    TokenRefreshed,
    ToolCompleted,
    ToolExecuting,
    TypingAck,
    UserTyping,
)

ServerPayload: TypeAlias = (
    ConnectionEstablished
    | ErrorPayload
    | HeartbeatAck
    | TypingAck
    | UserTyping
    | MessageAck
    | AgentStarted
    | AgentThinking
    | AgentOutput
    | ToolExecuting
    | ToolCompleted
    | AgentCompleted
    | AgentError
    | ThreadHistory
    | Threads
    | SessionState
    | ResumeComplete
    | TokenRefreshed
    | dict[str, Any]
)
PAYLOAD_CLASSES: dict[str, type[Any]] = {kind: cls for cls, (kind, _) in SERVER_TYPES.items()}
AGENT_EVENT_TYPES = frozenset(
    {
        "agent_started",
        "agent_thinking",
        "agent_output",
        "tool_executing",
        "tool_completed",
        "agent_completed",
        "agent_error",
    }
)
TERMINAL_EVENT_TYPES = frozenset({"agent_completed", "agent_error"})


class MalformedServerFrame(ValueError):
    """Text from the server that is not a protocol frame."""


@attrs.frozen
class ServerFrame:
    type: str
    payload: ServerPayload
    message_id: str | None = None
    correlation_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    seq: int | None = None
    timestamp: float | None = None

    @property
    def is_terminal(self) -> bool:
        """``agent_completed`` or ``agent_error``: the last event of a run."""
        return self.type in TERMINAL_EVENT_TYPES


_TEXT_FIELDS = ("message_id", "correlation_id", "thread_id", "run_id")


def read_server_frames(text: str | bytes) -> list[ServerFrame]:
    """The frames in one WebSocket message (several when it is a ``batch``)."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedServerFrame(f"not JSON: {exc.msg}") from None
    if isinstance(obj, dict) and obj.get("type") == "batch" and "message_id" not in obj:
        payload = obj.get("payload")
        messages = payload.get("messages") if isinstance(payload, dict) else None
        if not isinstance(messages, list):
            raise MalformedServerFrame("batch: payload.messages must be an array")
        return [structure_server_frame(message) for message in messages]
    return [structure_server_frame(obj)]


def structure_server_frame(obj: object) -> ServerFrame:
    if not isinstance(obj, dict):
        raise MalformedServerFrame("a frame must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise MalformedServerFrame("type: expected a string")
    payload = obj.get("payload", {})
    if not isinstance(payload, dict):
        raise MalformedServerFrame(f"{kind}: payload must be an object")
    envelope: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedServerFrame(f"{kind}: {name} must be a string")
        envelope[name] = value
    seq = obj.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        raise MalformedServerFrame(f"{kind}: seq must be an integer")
    timestamp = obj.get("timestamp")
    if timestamp is not None and (
        isinstance(timestamp, bool) or not isinstance(timestamp, int | float)
    ):
        raise MalformedServerFrame(f"{kind}: timestamp must be a number")
    return ServerFrame(
        type=kind,
        payload=_payload(kind, payload),
        seq=seq,
        timestamp=None if timestamp is None else float(timestamp),
        **envelope,
    )


def _payload(kind: str, payload: dict[str, Any]) -> ServerPayload:
    cls = PAYLOAD_CLASSES.get(kind)
    if cls is None:
        return payload
    try:
        structured: ServerPayload = CONVERTER.structure(payload, cls)
    except Exception:
        return payload  # a payload this client's classes do not describe: kept as it came
    return structured
