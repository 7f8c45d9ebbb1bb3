"""Agent runs of one user: admitted in one place, started in the user's hub
nursery, each in its own cancel scope, with a lease that keeps the hub alive
while the run works.

Admission (:meth:`RunManager.reserve`) checks that the agent exists and asks
the core's :class:`RunAdmission` whether the thread and the user have room; a
reserved slot counts as an active run until it starts or is released, so the
handler can store the user's message in between without a second check.

Every run emits ``agent_started`` first and exactly one terminal event last:
``agent_completed`` (success, or ``cancelled`` after ``stop_agent``) or
``agent_error`` (the agent's own code, ``AGENT_CRASHED``, ``TIMEOUT`` past
``max_run_s``, or ``INTERRUPTED`` when the hub is torn down under it). Each
event is stored before it is sent, through the event log.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs
import trio

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext
from netra_trio.core.runs import RunAdmission, RunRefusal
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.logs import log_event
from netra_trio.pipeline.event_log import EventSource
from netra_trio.protocol.converter import CONVERTER
from netra_trio.protocol.server_messages import AgentCompleted, AgentError, AgentStarted
from netra_trio.server.emitter import RunEmitter
from netra_trio.server.services import Services
from netra_trio.storage.base import StorageError
from netra_trio.storage.records import RunRecord

_TERMINAL_GRACE_S = 5.0


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


class RunSlot:
    """An admitted run that has not started; released on leaving its ``with``
    block unless it started."""

    def __init__(
        self,
        manager: RunManager,
        agent_name: str,
        thread_id: str | None,
        correlation_id: str | None,
    ) -> None:
        self._manager = manager
        self.agent_name = agent_name
        self.thread_id = thread_id
        self._correlation_id = correlation_id
        self._open = True

    def start(
        self, thread_id: str, run_input: Any, *, options: dict[str, Any] | None = None
    ) -> None:
        if not self._open:
            raise RuntimeError("this run slot was already used or released")
        self.release()
        self._manager._start(
            self.agent_name, thread_id, run_input, options or {}, self._correlation_id
        )

    def release(self) -> None:
        if self._open:
            self._open = False
            self._manager._slots.remove(self)

    def __enter__(self) -> RunSlot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class RunHost(Protocol):
    """Where a user's runs run: the user's hub."""

    @property
    def user_id(self) -> str: ...

    def start_task(self, fn: Callable[[ActiveRun], Awaitable[None]], arg: ActiveRun) -> None:
        """Run ``fn(arg)`` in the hub's nursery, holding the hub open meanwhile."""
        ...


class RunManager:
    def __init__(self, user_hub: RunHost, services: Services) -> None:
        self._user_hub = user_hub
        self._services = services
        self._admission = RunAdmission(services.config.max_runs_per_user)
        self._runs: dict[str, ActiveRun] = {}
        self._slots: list[RunSlot] = []

    @property
    def active(self) -> tuple[ActiveRun, ...]:
        return tuple(self._runs.values())

    def reserve(
        self, agent_name: str, thread_id: str | None, *, correlation_id: str | None = None
    ) -> RunSlot:
        """Admit a run, or raise ProtocolError. Synchronous, so two requests
        cannot both pass the per-thread and per-user limits."""
        agents = self._services.agents
        if agents.get(agent_name) is None:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"payload.agent: no agent named {agent_name!r}",
                correlation_id=correlation_id,
                details={"agents": list(agents.names)},
            )
        busy: list[str | None] = [run.thread_id for run in self._runs.values()]
        busy += [slot.thread_id for slot in self._slots]
        refusal = self._admission.check(busy, thread_id)
        if refusal is RunRefusal.THREAD_BUSY:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"thread {thread_id} already has an active run",
                correlation_id=correlation_id,
            )
        if refusal is RunRefusal.USER_AT_LIMIT:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"at most {self._admission.max_runs_per_user} runs may be active at once",
                correlation_id=correlation_id,
            )
        slot = RunSlot(self, agent_name, thread_id, correlation_id)
        self._slots.append(slot)
        return slot

    def stop(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None:
            return False
        run.stop_requested = True
        run.scope.cancel()
        return True

    async def find(self, run_id: str) -> RunRecord | None:
        return await self._services.storage.runs.get_run(run_id)

    def _start(
        self,
        agent_name: str,
        thread_id: str,
        run_input: Any,
        options: dict[str, Any],
        correlation_id: str | None,
    ) -> ActiveRun:
        run = ActiveRun(
            run_id=f"r-{uuid.uuid4().hex[:16]}",
            thread_id=thread_id,
            agent_name=agent_name,
            input=run_input,
            options=options,
            correlation_id=correlation_id,
            scope=trio.CancelScope(deadline=trio.current_time() + self._services.config.max_run_s),
        )
        self._user_hub.start_task(self._execute, run)
        self._runs[run.run_id] = run
        return run

    async def _execute(self, run: ActiveRun) -> None:
        services, user_id = self._services, self._user_hub.user_id
        source = EventSource(user_id, run.run_id, run.thread_id, run.correlation_id)
        emitter = RunEmitter(services.event_log.producer(source))
        started = time.perf_counter()
        status, error_code = "error", None
        involved: tuple[str, ...] = (run.agent_name,)
        log_event(
            "run_started", user=user_id, run=run.run_id, agent=run.agent_name, thread=run.thread_id
        )
        try:
            with run.scope:
                status, error_code, involved = await self._work(run, emitter, started)
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
                    await services.storage.runs.finish_run(
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

    async def _work(
        self, run: ActiveRun, emitter: RunEmitter, started: float
    ) -> tuple[str, str | None, tuple[str, ...]]:
        """The run inside its scope: record, ``agent_started``, the agent, the
        terminal event. Returns (status, error code, agents involved)."""
        storage, user_id = self._services.storage, self._user_hub.user_id
        await storage.runs.start_run(
            RunRecord(run.run_id, user_id, run.thread_id, run.agent_name, "running", time.time())
        )
        await emitter.emit(
            AgentStarted(agent_name=run.agent_name, input_preview=_preview(run.input))
        )
        history = await storage.threads.thread_messages(run.thread_id, limit=50)
        ctx = RunContext(
            user_id=user_id,
            thread_id=run.thread_id,
            run_id=run.run_id,
            input=run.input,
            options=run.options,
            history=history,
            emit=emitter,
            llm=self._services.llm,
        )
        agent = self._services.agents.get(run.agent_name)
        assert agent is not None  # admitted by reserve
        try:
            outcome: AgentResult = await agent(ctx)
        except AgentFailure as failure:
            await emitter.terminal(
                AgentError(agent_name=run.agent_name, code=failure.code, message=failure.message)
            )
            return "error", failure.code, (run.agent_name,)
        except (StorageError, trio.Cancelled):
            raise
        except Exception as exc:
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
            return "error", "AGENT_CRASHED", (run.agent_name,)
        involved = outcome.agents_involved or (run.agent_name,)
        await storage.threads.append_message(
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
        return "success", None, involved

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
