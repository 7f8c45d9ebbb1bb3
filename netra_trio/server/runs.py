"""Agent runs of one user: started in the user's hub nursery, each in its own
cancel scope, with a lease that keeps the hub alive while the run works.

Every run emits ``agent_started`` first and exactly one terminal event last:
``agent_completed`` (success, or ``cancelled`` after ``stop_agent``) or
``agent_error`` (the agent's own code, ``AGENT_CRASHED``, ``TIMEOUT`` past
``max_run_s``, or ``INTERRUPTED`` when the hub is torn down under it). Each
event is stored before it is sent, through the event log.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from netra_trio.agents.base import AgentFailure, AgentResult, OnDelta, RunContext, ToolOutcome
from netra_trio.core.priority import Priority
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode
from netra_trio.protocol.converter import CONVERTER
from netra_trio.protocol.server_messages import (
    SERVER_TYPES,
    AgentCompleted,
    AgentError,
    AgentStarted,
    AgentThinking,
    ToolCompleted,
    ToolExecuting,
)
from netra_trio.server.scheduler import OutboundFrame
from netra_trio.storage.base import NewEvent, RunRecord, StorageError, StoredEvent

if TYPE_CHECKING:
    from netra_trio.server.services import Services
    from netra_trio.server.user_hub import UserHub

_TERMINAL_GRACE_S = 5.0
# Events a run may have queued but not yet committed: enough for group commits
# to batch, small enough that a run cannot flood its user's connections.
_EMIT_WINDOW = 32
_STREAM_FLUSH_CHARS = 40
_CRITICAL = Priority.CRITICAL  # per event: an enum member lookup costs ~100 ns


@attrs.define
class ActiveRun:
    run_id: str
    thread_id: str
    agent_name: str
    input: Any
    options: dict[str, Any]
    correlation_id: str | None
    scope: trio.CancelScope
    stop_requested: bool = False


class RunEmitter:
    """Stores each event of one run, then fans it out to the user's connections."""

    def __init__(self, services: Services, user_hub: UserHub, run: ActiveRun) -> None:
        self._log = services.event_log
        self._user_hub = user_hub
        self._user_id = user_hub.user_id
        self._run = run
        self._tool_delay_s = services.config.tool_delay_s
        self._steps: dict[str, int] = {}
        self.terminal_sent = False
        self._failure: StorageError | None = None
        self._in_flight = 0
        self._window = trio.lowlevel.ParkingLot()
        self._on_delivered = self._delivered  # bound once, not per event
        self._on_failed = self._failed

    def _event(self, payload: object) -> NewEvent:
        kind, _ = SERVER_TYPES[type(payload)]
        body = CONVERTER.unstructure(payload)
        run = self._run
        emitted = time.time()  # the frame's timestamp: when the agent emitted it

        def make_frame(seq: int) -> str:
            return encode(
                kind,
                body,
                correlation_id=run.correlation_id,
                thread_id=run.thread_id,
                run_id=run.run_id,
                seq=seq,
                timestamp=emitted,
            )

        return NewEvent(self._user_id, kind, run.run_id, run.thread_id, make_frame)

    async def emit(self, payload: object) -> None:
        """Queue an event of the run: it is stored, then sent, in order. Does not
        wait for the commit; a failed write surfaces at the next emit."""
        if self._failure is not None:
            raise self._failure
        while self._in_flight >= _EMIT_WINDOW:
            await self._window.park()
        self._in_flight += 1
        make = functools.partial(self._event, payload)
        if self._log.submit_nowait(make, self._on_delivered, self._on_failed):
            await trio.lowlevel.checkpoint_if_cancelled()  # the CPU is given up only to wait
        else:
            await self._log.submit(make, self._on_delivered, self._on_failed)

    def _delivered(self, stored: list[StoredEvent]) -> None:
        self._landed(len(stored))
        self._deliver(stored)

    def _failed(self, exc: StorageError) -> None:
        self._landed(1)
        self._failure = self._failure or exc

    def _landed(self, count: int) -> None:
        # a full window reopens only once half of it has landed, so that a
        # producer emits a burst of events per wake-up instead of one
        self._in_flight -= count
        if self._window and self._in_flight <= _EMIT_WINDOW // 2:
            self._window.unpark_all()

    async def emit_and_wait(self, payload: object) -> StoredEvent:
        """Store an event (after every event queued before it) and wait until
        it is committed and sent."""
        if self._failure is not None:
            raise self._failure
        return await self._log.append(lambda: self._event(payload), self._deliver)

    def _deliver(self, stored: list[StoredEvent]) -> None:
        user_id = self._user_id
        self._user_hub.fan_out_all(
            [OutboundFrame(user_id, event.frame, _CRITICAL, seq=event.seq) for event in stored]
        )

    async def terminal(self, payload: AgentCompleted | AgentError) -> None:
        if self.terminal_sent:
            return
        self.terminal_sent = True
        await self.emit_and_wait(payload)

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
        self, agent_name: str, tool_name: str, arguments: dict[str, Any], fn: Any
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
        if self._tool_delay_s:
            await trio.sleep(self._tool_delay_s)
        started = time.perf_counter()
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
            outcome = ToolOutcome("success", CONVERTER.unstructure(value), value)
        except Exception as exc:
            log_event(
                "tool_error",
                logging.WARNING,
                user=self._user_id,
                run=self._run.run_id,
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


class RunManager:
    def __init__(self, user_hub: UserHub, services: Services) -> None:
        self._user_hub = user_hub
        self._services = services
        self._runs: dict[str, ActiveRun] = {}

    @property
    def active(self) -> tuple[ActiveRun, ...]:
        return tuple(self._runs.values())

    def start(
        self,
        agent_name: str,
        thread_id: str,
        run_input: Any,
        *,
        options: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> ActiveRun:
        """Admit and start a run, or raise ProtocolError. Synchronous, so two
        requests cannot both pass the per-thread and per-user limits."""
        config = self._services.config
        if self._services.agents.get(agent_name) is None:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"payload.agent: no agent named {agent_name!r}",
                correlation_id=correlation_id,
            )
        if any(run.thread_id == thread_id for run in self._runs.values()):
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"thread {thread_id} already has an active run",
                correlation_id=correlation_id,
            )
        if len(self._runs) >= config.max_runs_per_user:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"at most {config.max_runs_per_user} runs may be active at once",
                correlation_id=correlation_id,
            )
        run = ActiveRun(
            run_id=f"r-{uuid.uuid4().hex[:16]}",
            thread_id=thread_id,
            agent_name=agent_name,
            input=run_input,
            options=options or {},
            correlation_id=correlation_id,
            scope=trio.CancelScope(deadline=trio.current_time() + config.max_run_s),
        )
        self._user_hub.start_task(self._execute, run)
        self._runs[run.run_id] = run
        return run

    def check_can_start(self, thread_id: str | None, *, correlation_id: str | None = None) -> None:
        """AGENT_BUSY when the thread has an active run or the user is at the run limit."""
        limit = self._services.config.max_runs_per_user
        if thread_id is not None and any(r.thread_id == thread_id for r in self._runs.values()):
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"thread {thread_id} already has an active run",
                correlation_id=correlation_id,
            )
        if len(self._runs) >= limit:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"at most {limit} runs may be active at once",
                correlation_id=correlation_id,
            )

    def stop(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None:
            return False
        run.stop_requested = True
        run.scope.cancel()
        return True

    async def _execute(self, run: ActiveRun) -> None:
        services, user_id = self._services, self._user_hub.user_id
        emitter = RunEmitter(services, self._user_hub, run)
        agent = services.agents.get(run.agent_name)
        assert agent is not None
        started = time.perf_counter()
        status, error_code = "error", None
        involved: tuple[str, ...] = (run.agent_name,)
        log_event(
            "run_started", user=user_id, run=run.run_id, agent=run.agent_name, thread=run.thread_id
        )
        try:
            with run.scope:
                await services.storage.start_run(
                    RunRecord(
                        run.run_id, user_id, run.thread_id, run.agent_name, "running", time.time()
                    )
                )
                await emitter.emit(
                    AgentStarted(agent_name=run.agent_name, input_preview=_preview(run.input))
                )
                history = await services.storage.thread_messages(run.thread_id, limit=50)
                ctx = RunContext(
                    user_id=user_id,
                    thread_id=run.thread_id,
                    run_id=run.run_id,
                    input=run.input,
                    options=run.options,
                    history=history,
                    emit=emitter,
                    llm=services.llm,
                )
                try:
                    outcome: AgentResult = await agent(ctx)
                except AgentFailure as failure:
                    error_code = failure.code
                    await emitter.terminal(
                        AgentError(
                            agent_name=run.agent_name, code=failure.code, message=failure.message
                        )
                    )
                except (StorageError, trio.Cancelled):
                    raise
                except Exception as exc:
                    error_code = "AGENT_CRASHED"
                    log_event(
                        "agent_crashed",
                        logging.ERROR,
                        user=user_id,
                        run=run.run_id,
                        agent=run.agent_name,
                        exc_info=True,
                    )
                    await emitter.terminal(
                        AgentError(
                            agent_name=run.agent_name,
                            code="AGENT_CRASHED",
                            message=f"the agent failed: {type(exc).__name__}",
                        )
                    )
                else:
                    involved = outcome.agents_involved or (run.agent_name,)
                    await services.storage.append_message(
                        run.thread_id, "assistant", outcome.report, run_id=run.run_id
                    )
                    await emitter.terminal(
                        AgentCompleted(
                            agent_name=run.agent_name,
                            status="success",
                            result=outcome.result,
                            agents_involved=list(involved),
                            orchestration_time_s=round(time.perf_counter() - started, 6),
                        )
                    )
                    status = "success"
            if run.scope.cancelled_caught:
                status, error_code = await self._cancelled(run, emitter, started)
        except trio.Cancelled:
            status, error_code = "interrupted", "INTERRUPTED"
            with trio.move_on_after(_TERMINAL_GRACE_S, shield=True):
                await emitter.terminal(
                    AgentError(
                        agent_name=run.agent_name,
                        code="INTERRUPTED",
                        message="the run was interrupted by the server",
                    )
                )
            raise
        except StorageError as exc:
            status, error_code = "error", "STORAGE"
            log_event(
                "run_storage_error", logging.ERROR, user=user_id, run=run.run_id, error=str(exc)
            )
            with trio.move_on_after(_TERMINAL_GRACE_S, shield=True):
                with contextlib.suppress(StorageError):
                    await emitter.terminal(
                        AgentError(
                            agent_name=run.agent_name,
                            code="INTERNAL",
                            message="the run could not be stored",
                        )
                    )
        finally:
            with trio.move_on_after(_TERMINAL_GRACE_S, shield=True):
                try:
                    await services.storage.finish_run(
                        run.run_id, status, agents=involved, error_code=error_code
                    )
                except StorageError as exc:
                    log_event(
                        "run_storage_error",
                        logging.ERROR,
                        user=user_id,
                        run=run.run_id,
                        error=str(exc),
                    )
            self._runs.pop(run.run_id, None)
            log_event(
                "run_finished",
                user=user_id,
                run=run.run_id,
                status=status,
                code=error_code,
                seconds=round(time.perf_counter() - started, 3),
            )

    async def _cancelled(
        self, run: ActiveRun, emitter: RunEmitter, started: float
    ) -> tuple[str, str | None]:
        with trio.move_on_after(_TERMINAL_GRACE_S, shield=True):
            if run.stop_requested:
                await emitter.terminal(
                    AgentCompleted(
                        agent_name=run.agent_name,
                        status="cancelled",
                        result=None,
                        orchestration_time_s=round(time.perf_counter() - started, 6),
                    )
                )
                return "cancelled", None
            await emitter.terminal(
                AgentError(
                    agent_name=run.agent_name,
                    code="TIMEOUT",
                    message="the run took longer than the server allows",
                )
            )
        return "error", "TIMEOUT"


def _preview(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else str(CONVERTER.unstructure(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
