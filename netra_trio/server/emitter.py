"""A run's emitter: what an agent reports, as protocol events, into the event log.

The agent calls ``thinking``, ``stream_thinking`` and ``tool_call`` (the
``Emitter`` of ``agents/base.py``); the run calls ``emit`` and ``terminal``.
Each payload becomes one event, handed to the run's :class:`Producer`, which
stores it and then publishes it to the user's connections, in order.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from netra_trio.agents.base import OnDelta, ToolOutcome
from netra_trio.logs import log_event
from netra_trio.pipeline.event_log import Producer
from netra_trio.protocol.converter import CONVERTER
from netra_trio.protocol.server_messages import (
    SERVER_TYPES,
    AgentCompleted,
    AgentError,
    AgentThinking,
    ToolCompleted,
    ToolExecuting,
)

_STREAM_FLUSH_CHARS = 40


class RunEmitter:
    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._steps: dict[str, int] = {}
        self.terminal_sent = False

    async def emit(self, payload: object) -> None:
        """Queue an event of the run: it is stored, then sent, in order. Does not
        wait for the commit; a failed write surfaces at the next emit."""
        kind, _ = SERVER_TYPES[type(payload)]
        await self._producer.put(kind, CONVERTER.unstructure(payload))

    async def terminal(self, payload: AgentCompleted | AgentError) -> None:
        """The run's last event (once): stored and sent before this returns.
        StorageError when it could not be stored (then it may be tried again)."""
        if self.terminal_sent:
            return
        kind, _ = SERVER_TYPES[type(payload)]
        await self._producer.put_and_wait(kind, CONVERTER.unstructure(payload))
        self.terminal_sent = True

    async def thinking(self, agent_name: str, thought: str) -> None:
        step = self._steps.get(agent_name, 0) + 1
        self._steps[agent_name] = step
        await self.emit(AgentThinking(agent_name=agent_name, thought=thought, step=step))

    async def stream_thinking(
        self, agent_name: str, produce: Callable[[OnDelta], Awaitable[str]]
    ) -> str:
        """Run ``produce`` with a callback for streamed text; each sentence of it
        becomes one ``agent_thinking`` event. Returns the whole text."""
        buffer: list[str] = []

        async def on_delta(piece: str) -> None:
            buffer.append(piece)
            pending = "".join(buffer)
            if len(pending) >= _STREAM_FLUSH_CHARS and pending.rstrip().endswith(
                (".", "!", "?", ":")
            ):
                buffer.clear()
                await self.thinking(agent_name, pending.strip())

        text = await produce(on_delta)
        if "".join(buffer).strip():
            await self.thinking(agent_name, "".join(buffer).strip())
        return text

    async def tool_call(
        self, agent_name: str, tool_name: str, arguments: dict[str, Any], fn: Callable[[], Any]
    ) -> ToolOutcome:
        call_id = f"tc-{uuid.uuid4().hex[:12]}"
        await self.emit(
            ToolExecuting(
                agent_name=agent_name,
                tool_name=tool_name,
                tool_call_id=call_id,
                arguments=arguments,
            )
        )
        started = time.perf_counter()
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
            outcome = ToolOutcome("success", CONVERTER.unstructure(value), value)
        except Exception as exc:
            source = self._producer.source
            log_event(
                "tool_error",
                logging.WARNING,
                user=source.user_id,
                run=source.run_id,
                tool=tool_name,
                error=f"{type(exc).__name__}: {exc}",
            )
            outcome = ToolOutcome("error", {"error": f"{type(exc).__name__}: {exc}"})
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        await self.emit(
            ToolCompleted(
                agent_name=agent_name,
                tool_name=tool_name,
                tool_call_id=call_id,
                status=outcome.status,
                result=outcome.result,
                duration_ms=duration_ms,
            )
        )
        return outcome
