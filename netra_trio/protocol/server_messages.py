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
    connection_id: str
    session_id: str
    user_id: str
    resumed: bool
    server_time: float
    heartbeat_interval_s: float
    limits: Limits


@attrs.frozen
class ErrorPayload:
    code: str
    message: str
    details: AnyObject | None = None


@attrs.frozen
class HeartbeatAck:
    status: str


@attrs.frozen
class TypingAck:
    typing: bool


@attrs.frozen
class UserTyping:
    typing: bool
    connection_id: str


@attrs.frozen
class MessageAck:
    message_id: str
    thread_id: str


@attrs.frozen
class AgentStarted:
    agent_name: str
    input_preview: str


@attrs.frozen
class AgentThinking:
    agent_name: str
    thought: str
    step: int


@attrs.frozen
class AgentOutput:
    agent_name: str
    output_id: str
    delta: str


@attrs.frozen
class ToolExecuting:
    agent_name: str
    tool_name: str
    tool_call_id: str
    arguments: AnyObject


@attrs.frozen
class ToolCompleted:
    agent_name: str
    tool_name: str
    tool_call_id: str
    status: str
    result: Any
    duration_ms: float


@attrs.frozen
class AgentCompleted:
    agent_name: str
    status: str
    result: Any
    agents_involved: list[str] | None = None
    orchestration_time_s: float | None = None


@attrs.frozen
class AgentError:
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
    thread_id: str
    messages: list[HistoryMessage]


@attrs.frozen
class ThreadSummary:
    thread_id: str
    title: str
    updated_at: float


@attrs.frozen
class Threads:
    threads: list[ThreadSummary]


@attrs.frozen
class SessionState:
    session_id: str
    data: AnyObject


@attrs.frozen
class ResumeComplete:
    replayed: int
    gap: bool


@attrs.frozen
class TokenRefreshed:
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
