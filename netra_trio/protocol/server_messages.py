"""Every server message payload of the protocol as a frozen attrs class.

``SERVER_TYPES`` maps each payload class to its wire ``type`` and its delivery
priority; the codec reads both from there, so a payload cannot be sent under
the wrong name or class.
"""

from __future__ import annotations

from typing import Any

import attrs

from netra_trio.core.priority import Priority

AnyObject = dict[str, Any]


@attrs.frozen
class Limits:
    max_connections_per_user: int
    max_message_bytes: int
    idle_timeout_s: float


@attrs.frozen
class ConnectionEstablished:
    """The first frame after the handshake."""

    connection_id: str
    session_id: str
    user_id: str
    resumed: bool
    server_time: float
    heartbeat_interval_s: float
    limits: Limits


@attrs.frozen
class ErrorPayload:
    """A frame that could not be handled; the connection stays open.
    ``correlation_id`` is set when the offending frame had a ``message_id``.
    """

    code: str
    message: str
    details: AnyObject | None = None


@attrs.frozen
class HeartbeatAck:
    """The reply to ``heartbeat``: ``status`` is ``"healthy"``."""

    status: str


@attrs.frozen
class TypingAck:
    """The reply to ``typing_started`` (``typing: true``) and ``typing_stopped``."""

    typing: bool


@attrs.frozen
class UserTyping:
    """Another connection of the user started or stopped typing (LOW priority:
    may be coalesced or shed).
    """

    typing: bool
    connection_id: str


@attrs.frozen
class MessageAck:
    """The reply to ``user_message``: the id the message is stored under, and
    its thread. Replies and events are ordered by priority, so it may arrive
    after the run's first event.
    """

    message_id: str
    thread_id: str


@attrs.frozen
class AgentStarted:
    """The first event of a run."""

    agent_name: str
    input_preview: str


@attrs.frozen
class AgentThinking:
    """A step of the agent's reasoning."""

    agent_name: str
    thought: str
    step: int


@attrs.frozen
class AgentOutput:
    """Streamed answer text: the deltas of one ``output_id``, joined in ``seq``
    order, are the text.
    """

    agent_name: str
    output_id: str
    delta: str


@attrs.frozen
class ToolExecuting:
    """A tool call begins; its ``tool_completed`` (same ``tool_call_id``)
    follows.
    """

    agent_name: str
    tool_name: str
    tool_call_id: str
    arguments: AnyObject


@attrs.frozen
class ToolCompleted:
    """A tool call ended: ``status`` is ``"success"`` or ``"error"``."""

    agent_name: str
    tool_name: str
    tool_call_id: str
    status: str
    result: Any
    duration_ms: float


@attrs.frozen
class AgentCompleted:
    """The run ended: ``status`` is ``"success"`` or ``"cancelled"`` (stopped by
    ``stop_agent``). A terminal event.
    """

    agent_name: str
    status: str
    result: Any
    agents_involved: list[str] | None = None
    orchestration_time_s: float | None = None


@attrs.frozen
class AgentError:
    """The run failed. A terminal event."""

    agent_name: str
    code: str
    message: str


@attrs.frozen
class HistoryMessage:
    role: str
    content: str
    message_id: str
    timestamp: float


@attrs.frozen
class ThreadHistory:
    """The reply to ``get_thread_history``: the thread's messages, oldest first."""

    thread_id: str
    messages: list[HistoryMessage]


@attrs.frozen
class ThreadSummary:
    thread_id: str
    title: str
    updated_at: float


@attrs.frozen
class Threads:
    """The reply to ``list_threads``: newest activity first, at most 100."""

    threads: list[ThreadSummary]


@attrs.frozen
class SessionState:
    """The reply to ``session_update`` and ``session_get``."""

    session_id: str
    data: AnyObject


@attrs.frozen
class ResumeComplete:
    """Ends a replay: ``replayed`` counts the events sent, ``gap`` is true when
    events after ``last_seq`` had already left retention.
    """

    replayed: int
    gap: bool


@attrs.frozen
class TokenRefreshed:
    """The reply to ``refresh``: when the connection now expires (Unix seconds)."""

    expires_at: float  # Unix seconds: when the connection now expires


SERVER_TYPES: dict[type[Any], tuple[str, Priority]] = {
    ConnectionEstablished: ("connection_established", Priority.CRITICAL),
    ErrorPayload: ("error", Priority.CRITICAL),
    HeartbeatAck: ("heartbeat_ack", Priority.HIGH),
    TypingAck: ("typing_ack", Priority.HIGH),
    UserTyping: ("user_typing", Priority.LOW),
    MessageAck: ("message_ack", Priority.HIGH),
    AgentStarted: ("agent_started", Priority.CRITICAL),
    AgentThinking: ("agent_thinking", Priority.CRITICAL),
    AgentOutput: ("agent_output", Priority.CRITICAL),
    ToolExecuting: ("tool_executing", Priority.CRITICAL),
    ToolCompleted: ("tool_completed", Priority.CRITICAL),
    AgentCompleted: ("agent_completed", Priority.CRITICAL),
    AgentError: ("agent_error", Priority.CRITICAL),
    ThreadHistory: ("thread_history", Priority.HIGH),
    Threads: ("threads", Priority.HIGH),
    SessionState: ("session_state", Priority.HIGH),
    ResumeComplete: ("resume_complete", Priority.HIGH),
    TokenRefreshed: ("token_refreshed", Priority.HIGH),
}
# Every payload class, nested ones included (what a client structures).
SERVER_PAYLOAD_CLASSES: tuple[type[Any], ...] = (
    Limits,
    HistoryMessage,
    ThreadSummary,
    *SERVER_TYPES,
)
PONG = ("pong", Priority.HIGH)  # pong echoes an arbitrary object, so it has no class
