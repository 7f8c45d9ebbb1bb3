"""One agent run's life, from its record to its terminal event.

Every run emits ``agent_started`` first and exactly one terminal event last:
``agent_completed`` (success, or ``cancelled`` after ``stop_agent``) or
``agent_error`` (the agent's own code, ``AGENT_CRASHED``, ``TIMEOUT`` past
``max_run_s``, ``INTERNAL`` when its events cannot be stored or the server
fails it, or ``INTERRUPTED`` when the hub is torn down under it). Each event
is stored before it is sent, through the event log. The run's work decides
its :class:`Ending`; ``run_ending.py`` stores it (the terminal event, then the
record), trying again until the store takes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from netra_trio.agents.base import AgentFailure, AgentResult, RunContext
from netra_trio.logs import log_event
from netra_trio.pipeline.event_log import EventSource
from netra_trio.protocol.codec import UnrenderableEvent, render_payload
from netra_trio.protocol.converter import CONVERTER
from netra_trio.protocol.server_messages import AgentCompleted, AgentError, AgentStarted
from netra_trio.server.emitter import RunEmitter
from netra_trio.server.run_ending import Ending, failed, store_ending
from netra_trio.server.services import Services
from netra_trio.storage.base import StorageError
from netra_trio.storage.records import RunRecord


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
    ended: bool = False  # its terminal event is stored
    # called once the run's terminal event is stored: from then on the run no
    # longer holds its thread (its record is still being written)
    on_ending_stored: Callable[[], None] | None = None


async def run_agent(run: ActiveRun, services: Services, user_id: str) -> None:
    """The whole run; it returns (or, cancelled, raises) once its ending is
    stored and sent (or the server stopped first: the next start ends it)."""
    source = EventSource(user_id, run.run_id, run.thread_id, run.correlation_id)
    log_event(
        "run_started", user=user_id, run=run.run_id, agent=run.agent_name, thread=run.thread_id
    )
    started = time.perf_counter()
    async with trio.open_nursery() as timers:  # the emitter's output timer
        emitter = RunEmitter(services.event_log.producer(source), timers)
        try:
            ending = await _outcome(run, emitter, started, services, user_id)
        except trio.Cancelled:
            interrupted = failed(
                run.agent_name,
                "INTERRUPTED",
                "the run was interrupted by the server",
                status="interrupted",
            )
            await _end(run, emitter, services, user_id, interrupted, started)
            raise
        await _end(run, emitter, services, user_id, ending, started)
        timers.cancel_scope.cancel()


async def _end(
    run: ActiveRun,
    emitter: RunEmitter,
    services: Services,
    user_id: str,
    ending: Ending,
    started: float,
) -> None:
    await store_ending(
        ending,
        run_id=run.run_id,
        user_id=user_id,
        on_event_stored=run.on_ending_stored,
        emitter=emitter,
        runs=services.storage.runs,
        stopping=services.stopping,
    )
    seconds = time.perf_counter() - started
    services.stats.run_ended(ending.status, seconds)
    log_event(
        "run_finished",
        user=user_id,
        run=run.run_id,
        status=ending.status,
        code=ending.error_code,
        seconds=round(seconds, 3),
    )


async def _outcome(
    run: ActiveRun, emitter: RunEmitter, started: float, services: Services, user_id: str
) -> Ending:
    """How the run ended: its work, in ``run.scope`` (stopped or past its time
    when that scope is cancelled), or a failure of the store or the server."""
    try:
        with run.scope:
            return await _work(run, emitter, started, services, user_id)
        return _stopped(run, started)  # (run.scope caught its cancellation)
    except StorageError as exc:
        log_event("run_storage_error", logging.ERROR, user=user_id, run=run.run_id, error=str(exc))
        lost = AgentError(
            agent_name=run.agent_name, code="INTERNAL", message="the run could not be stored"
        )
        return Ending(lost, "error", "STORAGE", (run.agent_name,))
    except Exception:
        log_event("run_failed", logging.ERROR, user=user_id, run=run.run_id, exc_info=True)
        return failed(run.agent_name, "INTERNAL", "the server failed the run")


async def _work(
    run: ActiveRun, emitter: RunEmitter, started: float, services: Services, user_id: str
) -> Ending:
    """The run inside its scope: record, ``agent_started``, the agent, and
    (on success) the thread's assistant message; returns the run's ending."""
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
        agent_name=run.agent_name,
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
        return _sendable(failed(run.agent_name, failure.code, failure.message), run, user_id)
    except (StorageError, trio.Cancelled):
        raise
    except UnrenderableEvent as exc:
        return _crashed(run, user_id, f"the agent emitted an event that cannot be sent: {exc}")
    except Exception as exc:  # its type only reaches the client; the traceback is logged
        return _crashed(run, user_id, f"the agent failed: {type(exc).__name__}", exc_info=True)
    if not isinstance(outcome, AgentResult):  # (an agent from the user's code, most likely)
        returned = type(outcome).__name__
        return _crashed(run, user_id, f"the agent returned {returned}, not an AgentResult")
    involved = outcome.agents_involved or (run.agent_name,)
    completed = AgentCompleted(
        agent_name=run.agent_name,
        status="success",
        result=outcome.result,
        agents_involved=list(involved),
        orchestration_time_s=round(time.perf_counter() - started, 6),
    )
    ending = _sendable(Ending(completed, "success", None, tuple(involved)), run, user_id)
    if ending.status == "success":  # its result is appended before it is sent
        await storage.threads.append_message(
            run.thread_id, "assistant", outcome.report, run_id=run.run_id
        )
    return ending


def _crashed(run: ActiveRun, user_id: str, reason: str, *, exc_info: bool = False) -> Ending:
    """AGENT_CRASHED for what the agent did wrong (logged; the message tells
    the user's client why)."""
    log_event(
        "agent_crashed",
        logging.ERROR,
        user=user_id,
        run=run.run_id,
        agent=run.agent_name,
        error=reason,
        exc_info=exc_info,
    )
    return failed(run.agent_name, "AGENT_CRASHED", reason)


def _sendable(ending: Ending, run: ActiveRun, user_id: str) -> Ending:
    """``ending``, or AGENT_CRASHED when its event, made of what the agent
    gave (a result, a failure's code and message), cannot be sent as JSON."""
    try:
        render_payload(CONVERTER.unstructure(ending.event))
    except UnrenderableEvent as exc:
        return _crashed(run, user_id, f"the agent's ending cannot be sent: {exc}")
    return ending


def _stopped(run: ActiveRun, started: float) -> Ending:
    """The run's scope was cancelled: by ``stop_agent``, or at ``max_run_s``."""
    if run.stop_requested:
        cancelled = AgentCompleted(
            agent_name=run.agent_name,
            status="cancelled",
            result=None,
            orchestration_time_s=round(time.perf_counter() - started, 6),
        )
        return Ending(cancelled, "cancelled", None, (run.agent_name,))
    return failed(run.agent_name, "TIMEOUT", "the run took longer than the server allows")


def _preview(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else str(CONVERTER.unstructure(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
