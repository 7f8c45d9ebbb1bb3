"""Typed handlers for client messages, and the default router.

Every client type of the protocol has a handler here; an application may
add its own types with ``Router.add``.
"""

from __future__ import annotations

from netra_trio.handlers.agents import (
    handle_agent_request,
    handle_start_agent,
    handle_stop_agent,
    handle_user_message,
)
from netra_trio.handlers.batch import batch_handler
from netra_trio.handlers.heartbeat import handle_heartbeat, handle_ping
from netra_trio.handlers.refresh import handle_refresh
from netra_trio.handlers.router import Router
from netra_trio.handlers.session import handle_resume, handle_session_get, handle_session_update
from netra_trio.handlers.threads import handle_get_thread_history, handle_list_threads
from netra_trio.handlers.typing_indicator import handle_typing_started, handle_typing_stopped
from netra_trio.protocol.client_messages import (
    AgentRequest,
    Batch,
    GetThreadHistory,
    Heartbeat,
    ListThreads,
    Ping,
    Refresh,
    Resume,
    SessionGet,
    SessionUpdate,
    StartAgent,
    StopAgent,
    TypingStarted,
    TypingStopped,
    UserMessage,
)


def default_router() -> Router:
    router = Router()
    router.add(Ping, handle_ping)
    router.add(Heartbeat, handle_heartbeat)
    router.add(TypingStarted, handle_typing_started)
    router.add(TypingStopped, handle_typing_stopped)
    router.add(UserMessage, handle_user_message)
    router.add(AgentRequest, handle_agent_request)
    router.add(StartAgent, handle_start_agent)
    router.add(StopAgent, handle_stop_agent)
    router.add(GetThreadHistory, handle_get_thread_history)
    router.add(ListThreads, handle_list_threads)
    router.add(SessionUpdate, handle_session_update)
    router.add(SessionGet, handle_session_get)
    router.add(Resume, handle_resume)
    router.add(Refresh, handle_refresh)
    router.add(Batch, batch_handler(router))
    return router
