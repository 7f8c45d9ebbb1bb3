"""Every client message of the protocol as a frozen attrs class.

Each class is one ``type``; the envelope fields (``message_id``, ``thread_id``,
``user_id``) are shared through :class:`ClientMessage`. ``user_id`` is accepted
only so that a frame naming the connection's own user is not refused as an
unknown field; identity always comes from the token.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from netra_trio.core.limits import MAX_AGENT_NAME_CHARS, MAX_BATCH_MESSAGES, MAX_CONTENT_CHARS
from netra_trio.protocol.fields import int_range, max_items, text_length

AnyObject = dict[str, Any]
MAX_TOKEN_CHARS = 16_384


@attrs.frozen(kw_only=True)
class ClientMessage:
    TYPE: ClassVar[str] = ""
    message_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None


@attrs.frozen(kw_only=True)
class ContentPayload:
    content: str = attrs.field(validator=text_length(1, MAX_CONTENT_CHARS))


@attrs.frozen(kw_only=True)
class AgentRequestPayload:
    content: str = attrs.field(validator=text_length(1, MAX_CONTENT_CHARS))
    require_multi_agent: bool = False


@attrs.frozen(kw_only=True)
class StartAgentPayload:
    agent: str = attrs.field(validator=text_length(1, MAX_AGENT_NAME_CHARS))
    input: Any = ""


@attrs.frozen(kw_only=True)
class StopAgentPayload:
    run_id: str = attrs.field(validator=text_length(1, 128))


@attrs.frozen(kw_only=True)
class ThreadHistoryPayload:
    thread_id: str = attrs.field(validator=text_length(1, 128))
    limit: int | None = attrs.field(default=None, validator=int_range(1, 1000))


@attrs.frozen(kw_only=True)
class SessionUpdatePayload:
    data: AnyObject


@attrs.frozen(kw_only=True)
class ResumePayload:
    last_seq: int = attrs.field(validator=int_range(0))


@attrs.frozen(kw_only=True)
class RefreshPayload:
    token: str = attrs.field(validator=text_length(1, MAX_TOKEN_CHARS), repr=False)


@attrs.frozen(kw_only=True)
class BatchPayload:
    messages: list[AnyObject] = attrs.field(validator=max_items(MAX_BATCH_MESSAGES))


@attrs.frozen(kw_only=True)
class Ping(ClientMessage):
    TYPE = "ping"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class Heartbeat(ClientMessage):
    TYPE = "heartbeat"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class TypingStarted(ClientMessage):
    TYPE = "typing_started"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class TypingStopped(ClientMessage):
    TYPE = "typing_stopped"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class UserMessage(ClientMessage):
    TYPE = "user_message"
    payload: ContentPayload


@attrs.frozen(kw_only=True)
class AgentRequest(ClientMessage):
    TYPE = "agent_request"
    payload: AgentRequestPayload


@attrs.frozen(kw_only=True)
class StartAgent(ClientMessage):
    TYPE = "start_agent"
    payload: StartAgentPayload


@attrs.frozen(kw_only=True)
class StopAgent(ClientMessage):
    TYPE = "stop_agent"
    payload: StopAgentPayload


@attrs.frozen(kw_only=True)
class GetThreadHistory(ClientMessage):
    TYPE = "get_thread_history"
    payload: ThreadHistoryPayload


@attrs.frozen(kw_only=True)
class ListThreads(ClientMessage):
    TYPE = "list_threads"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class SessionUpdate(ClientMessage):
    TYPE = "session_update"
    payload: SessionUpdatePayload


@attrs.frozen(kw_only=True)
class SessionGet(ClientMessage):
    TYPE = "session_get"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class Resume(ClientMessage):
    TYPE = "resume"
    payload: ResumePayload


@attrs.frozen(kw_only=True)
class Refresh(ClientMessage):
    TYPE = "refresh"
    payload: RefreshPayload


@attrs.frozen(kw_only=True)
class Batch(ClientMessage):
    TYPE = "batch"
    payload: BatchPayload


CLIENT_MESSAGES: tuple[type[ClientMessage], ...] = (
    Ping,
    Heartbeat,
    TypingStarted,
    TypingStopped,
    UserMessage,
    AgentRequest,
    StartAgent,
    StopAgent,
    GetThreadHistory,
    ListThreads,
    SessionUpdate,
    SessionGet,
    Resume,
    Refresh,
    Batch,
)
CLIENT_TYPES: dict[str, type[ClientMessage]] = {cls.TYPE: cls for cls in CLIENT_MESSAGES}
