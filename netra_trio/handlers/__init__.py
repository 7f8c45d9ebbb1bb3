"""Typed handlers for client messages, and the default router.

The agent, thread and session handlers plug in with ``Router.add``; a type
with no handler answers ``UNKNOWN_TYPE`` ("not served here").
"""

from __future__ import annotations

from netra_trio.handlers.batch import batch_handler
from netra_trio.handlers.heartbeat import handle_heartbeat, handle_ping
from netra_trio.handlers.router import Router
from netra_trio.handlers.typing_indicator import handle_typing_started, handle_typing_stopped
from netra_trio.protocol.client_messages import Batch, Heartbeat, Ping, TypingStarted, TypingStopped


def default_router() -> Router:
    router = Router()
    router.add(Ping, handle_ping)
    router.add(Heartbeat, handle_heartbeat)
    router.add(TypingStarted, handle_typing_started)
    router.add(TypingStopped, handle_typing_stopped)
    router.add(Batch, batch_handler(router))
    return router
