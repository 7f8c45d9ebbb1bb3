"""One agent run's life, from its record to its terminal event.

Every run emits ``agent_started`` first and exactly one terminal event last:
``agent_completed`` (success, or ``cancelled`` after ``stop_agent``) or
``agent_error`` (the agent's own code, ``AGENT_CRASHED``, ``TIMEOUT`` past
``max_run_s``, ``INTERNAL`` when its events cannot be stored, or
``INTERRUPTED`` when the hub is torn down under it). Each event is stored
before it is sent, through the event log; the run's record says how it ended.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import attrs
import trio

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext
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


async def run_agent(run: ActiveRun, services: Services, user_id: str) -> None:
    """The whole run, in ``run.scope``; it ends with its terminal event sent and
    its record finished, however it ends."""
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
            status, error_code, involved = await _work(run, emitter, started, services, user_id)
        if run.scope.cancelled_caught:
            status, error_code = await _cancelled(run, emitter, started)
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
        log_event("run_storage_error", logging.ERROR, user=user_id, run=run.run_id, error=str(exc))
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
        seconds = time.perf_counter() - started
        services.stats.run_ended(status, seconds)
        log_event(
            "run_finished",
            user=user_id,
            run=run.run_id,
            status=status,
            code=error_code,
            seconds=round(seconds, 3),
        )


async def _work(
    run: ActiveRun, emitter: RunEmitter, started: float, services: Services, user_id: str
) -> tuple[str, str | None, tuple[str, ...]]:
    """The run inside its scope: record, ``agent_started``, the agent, the
    terminal event. Returns (status, error code, agents involved)."""
    storage = services.storage
    await storage.runs.start_run(
        RunRecord(run.run_id, user_id, run.thread_id, run.agent_name, "running", time.time())
    )
    await emitter.emit(AgentStarted(agent_name=run.agent_name, input_preview=_preview(run.input)))
    history = await storage.threads.thread_messages(run.thread_id, limit=50)
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
    agent = services.agents.get(run.agent_name)
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


async def _cancelled(run: ActiveRun, emitter: RunEmitter, started: float) -> tuple[str, str | None]:
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
