"""A run's emitter: what an agent reports, as protocol events, into the event log.

The agent calls ``thinking``, ``output`` and ``tool_call`` (or
``tool_started`` and ``tool_finished`` for a tool that runs elsewhere): the
``Emitter`` of ``agents/base.py``; the run calls ``emit`` and
``terminal``. Each payload becomes one event, handed to the run's
:class:`Producer`, which stores it and then publishes it to the user's
connections, in order.

Streamed answer text (``output``) is merged: consecutive deltas of one
``output_id`` become one ``agent_output`` event at most every
``OUTPUT_INTERVAL_S``. Text is held only that long: a timer in the run's
nursery sends it when no more comes, any other event of the run sends it first
(so events stay in the order the agent made them), and so does the run's end.
The run's end also closes every tool call still open with a
``tool_completed`` of status ``error``, so each ``tool_executing`` has its
``tool_completed``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import trio

from netra_trio.agents.base import ToolOutcome
from netra_trio.logs import log_event
from netra_trio.pipeline.event_log import Producer
from netra_trio.protocol.codec import UnrenderableEvent
from netra_trio.protocol.converter import CONVERTER
from netra_trio.protocol.server_messages import (
    SERVER_TYPES,
    AgentCompleted,
    AgentError,
    AgentOutput,
    AgentThinking,
    ToolCompleted,
    ToolExecuting,
)
from netra_trio.storage.base import StorageError

OUTPUT_INTERVAL_S = 0.05
_UNFINISHED = {"error": "the run ended before the tool call finished"}


@attrs.define
class _OpenCall:
    agent_name: str
    tool_name: str
    started: float


@attrs.define
class _HeldOutput:
    agent_name: str
    output_id: str
    parts: list[str]


class RunEmitter:
    def __init__(self, producer: Producer, nursery: trio.Nursery | None = None) -> None:
        self._producer = producer
        self._nursery = nursery  # where the output timer runs (none: held to the next event)
        self._steps: dict[str, int] = {}
        self._output_ids: dict[str, str] = {}
        self._held: _HeldOutput | None = None
        self._next_output_at = -float("inf")
        self._timer_set = False
        self._open_calls: dict[str, _OpenCall] = {}
        self._lock = trio.StrictFIFOLock()  # the agent's emits and the output timer's
        self.terminal_sent = False

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """The emitter's lock, taken without a trip through the scheduler when
        it is free (``Lock.acquire`` always yields): an agent that emits a
        burst of events still runs them in one scheduler round, as
        ``Producer.put`` intends."""
        lock = self._lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            yield
        finally:
            lock.release()

    async def emit(self, payload: object) -> None:
        """Queue an event of the run: it is stored, then sent, in order. Does not
        wait for the commit; a failed write surfaces at the next emit."""
        if self._held is None and not self._lock.locked():
            # nothing to send first and no timer sending: the common case, kept
            # to the one call it was before streamed output
            kind, _ = SERVER_TYPES[type(payload)]
            await self._producer.put(kind, CONVERTER.unstructure(payload))
            return
        async with self._locked():
            await self._send_held()
            await self._put(payload)

    async def terminal(
        self,
        payload: AgentCompleted | AgentError,
        *,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """The run's last event (once), after the output held and a
        ``tool_completed`` for each tool call still open: stored and sent
        before this returns; ``on_stored`` is called once it is stored, before
        any client can see it. StorageError when it could not be stored (then
        it may be tried again)."""
        if self.terminal_sent:
            return
        async with self._locked():
            await self._close_open_work()
            kind, _ = SERVER_TYPES[type(payload)]
            await self._producer.put_and_wait(
                kind, CONVERTER.unstructure(payload), on_stored=on_stored
            )
        self.terminal_sent = True

    async def thinking(self, agent_name: str, thought: str) -> None:
        step = self._steps.get(agent_name, 0) + 1
        self._steps[agent_name] = step
        await self.emit(AgentThinking(agent_name=agent_name, thought=thought, step=step))

    async def output(self, agent_name: str, delta: str, *, output_id: str | None = None) -> str:
        """Streamed answer text; returns its ``output_id`` (by default one per
        agent of the run). Deltas are merged, and sent within
        ``OUTPUT_INTERVAL_S``."""
        if output_id is None:
            output_id = self._output_ids.setdefault(agent_name, f"out-{uuid.uuid4().hex[:12]}")
        if not delta:
            return output_id
        _check_text(agent_name, output_id, delta)  # here, not when the text is sent later
        async with self._locked():
            held = self._held
            if held is not None and (held.output_id, held.agent_name) != (output_id, agent_name):
                await self._send_held()
                held = None
            if held is None:
                self._held = held = _HeldOutput(agent_name, output_id, [])
            held.parts.append(delta)
            now = trio.current_time()
            if now >= self._next_output_at:
                await self._send_held()
            elif not self._timer_set and self._nursery is not None:
                self._timer_set = True
                self._nursery.start_soon(self._output_timer)
        return output_id

    async def tool_started(
        self,
        agent_name: str,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        tool_call_id: str | None = None,
    ) -> str:
        """``tool_executing`` for a tool call that runs elsewhere; returns its
        id, for :meth:`tool_finished`."""
        call_id = tool_call_id or f"tc-{uuid.uuid4().hex[:12]}"
        self._open_calls[call_id] = _OpenCall(agent_name, tool_name, time.perf_counter())
        await self.emit(
            ToolExecuting(
                agent_name=agent_name,
                tool_name=tool_name,
                tool_call_id=call_id,
                arguments=arguments,
            )
        )
        return call_id

    async def tool_finished(
        self, tool_call_id: str, result: Any, *, status: str = "success"
    ) -> None:
        """``tool_completed`` of an open call (``status`` ``success`` or
        ``error``); a call that is not open is ignored."""
        if tool_call_id not in self._open_calls:
            return
        async with self._locked():
            await self._send_held()
            await self._complete(tool_call_id, status, result)

    async def tool_call(
        self, agent_name: str, tool_name: str, arguments: dict[str, Any], fn: Callable[[], Any]
    ) -> ToolOutcome:
        """Run ``fn`` (sync or async) as a tool call: ``tool_executing``, then
        ``tool_completed`` with its return value or the error it raised."""
        call_id = await self.tool_started(agent_name, tool_name, arguments)
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
        await self.tool_finished(call_id, outcome.result, status=outcome.status)
        return outcome

    # -- inside the lock -------------------------------------------------------------

    async def _put(self, payload: object) -> None:
        kind, _ = SERVER_TYPES[type(payload)]
        await self._producer.put(kind, CONVERTER.unstructure(payload))

    async def _send_held(self) -> None:
        held = self._held
        if held is None:
            return
        self._held = None
        self._next_output_at = trio.current_time() + OUTPUT_INTERVAL_S
        delta = "".join(held.parts)
        await self._put(
            AgentOutput(agent_name=held.agent_name, output_id=held.output_id, delta=delta)
        )

    async def _complete(self, call_id: str, status: str, result: Any) -> None:
        """The call's ``tool_completed``; a call whose result cannot be sent
        stays open (the run's end closes it)."""
        call = self._open_calls[call_id]
        await self._put(
            ToolCompleted(
                agent_name=call.agent_name,
                tool_name=call.tool_name,
                tool_call_id=call_id,
                status=status,
                result=result,
                duration_ms=round((time.perf_counter() - call.started) * 1000, 3),
            )
        )
        del self._open_calls[call_id]

    async def _close_open_work(self) -> None:
        """Before the terminal event (once, even when it is tried again; when
        the store has failed the run, they are lost with it)."""
        with contextlib.suppress(StorageError):
            await self._send_held()
        for call_id in list(self._open_calls):
            with contextlib.suppress(StorageError):
                await self._complete(call_id, "error", _UNFINISHED)
        self._open_calls.clear()  # (those the store failed)

    async def _output_timer(self) -> None:
        """Sends held output once its interval is over (unless something sent
        it first). A failed write is left for the agent's next emit."""
        try:
            await trio.sleep_until(self._next_output_at)
            async with self._locked():
                if not self.terminal_sent:
                    await self._send_held()
        except StorageError:
            pass
        finally:
            self._timer_set = False


def _check_text(*texts: str) -> None:
    """UnrenderableEvent for a string JSON cannot carry (one that is not
    Unicode text: a lone surrogate)."""
    for text in texts:
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise UnrenderableEvent(f"text that is not Unicode: {exc.reason}") from None
