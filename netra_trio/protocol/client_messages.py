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
    """Answered with ``pong``: the same payload plus ``server_time``."""

    TYPE = "ping"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class Heartbeat(ClientMessage):
    """An application-level liveness check; answered with ``heartbeat_ack``."""

    TYPE = "heartbeat"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class TypingStarted(ClientMessage):
    """The user started typing: answered with ``typing_ack``; the user's other
    connections get ``user_typing`` (LOW priority: may be coalesced or shed).
    """

    TYPE = "typing_started"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class TypingStopped(ClientMessage):
    """The user stopped typing: as ``typing_started``."""

    TYPE = "typing_stopped"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class UserMessage(ClientMessage):
    """A message of the user: answered with ``message_ack`` (on a new thread when
    the frame names none), then the agent events of a run of the ``supervisor``
    on that thread.
    """

    TYPE = "user_message"
    payload: ContentPayload


@attrs.frozen(kw_only=True)
class AgentRequest(ClientMessage):
    """A run of the ``supervisor`` on the frame's thread (a new one when none is
    named): its agent events, ending with ``agent_completed`` or ``agent_error``.
    """

    TYPE = "agent_request"
    payload: AgentRequestPayload


@attrs.frozen(kw_only=True)
class StartAgent(ClientMessage):
    """A run of the registered agent ``agent`` on the frame's thread (a new one
    when none is named); ``input`` (as text) is appended to the thread as the
    user's message.
    """

    TYPE = "start_agent"
    payload: StartAgentPayload


@attrs.frozen(kw_only=True)
class StopAgent(ClientMessage):
    """Cancels the user's run ``run_id``: no direct reply; the run ends with
    ``agent_completed`` ``{status: "cancelled"}``. A finished or unknown run:
    ``error`` NOT_FOUND.
    """

    TYPE = "stop_agent"
    payload: StopAgentPayload


@attrs.frozen(kw_only=True)
class GetThreadHistory(ClientMessage):
    """The messages of one of the user's threads, oldest first (``limit`` keeps
    the latest): answered with ``thread_history``.
    """

    TYPE = "get_thread_history"
    payload: ThreadHistoryPayload


@attrs.frozen(kw_only=True)
class ListThreads(ClientMessage):
    """The user's threads, newest activity first: answered with ``threads``."""

    TYPE = "list_threads"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class SessionUpdate(ClientMessage):
    """Merges ``data`` into the session's data, key by key: answered with
    ``session_state``.
    """

    TYPE = "session_update"
    payload: SessionUpdatePayload


@attrs.frozen(kw_only=True)
class SessionGet(ClientMessage):
    """Answered with ``session_state``."""

    TYPE = "session_get"
    payload: AnyObject = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class Resume(ClientMessage):
    """Every stored event with a greater ``seq``, in order, then
    ``resume_complete``.
    """

    TYPE = "resume"
    payload: ResumePayload


@attrs.frozen(kw_only=True)
class Refresh(ClientMessage):
    """A new token of the same user: answered with ``token_refreshed``; the
    connection now expires with the new token.
    """

    TYPE = "refresh"
    payload: RefreshPayload


@attrs.frozen(kw_only=True)
class Batch(ClientMessage):
    """Client frames handled in order, each as if sent alone (each gets its own
    reply, correlated by its own ``message_id``); no batch inside a batch.
    """

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
