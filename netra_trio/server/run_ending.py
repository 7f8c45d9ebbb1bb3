"""A run's ending: its terminal event, then its record, stored however long
the store is away.

Every run ends with exactly one terminal event (``agent_completed`` or
``agent_error``), stored, then sent. When the store fails, the ending is tried
again (``RETRY_FIRST_S``, doubling to ``RETRY_MAX_S`` apart) until it is
stored. Meanwhile the run stays active (its thread takes no other run; in a
cluster its lease is renewed, so no starting node takes it for a run a crash
cut off), shielded from its own cancellation and from the eviction of its
user's hub. Only the server's stop ends the wait (``Services.stopping``, set
when the hub is torn down after the shutdown grace): an attempt under way
then gets ``STOP_GRACE_S`` more, and a run whose ending is still not stored
is left recorded as ``running``, for the next start to end
(``startup.py``).

A write reported as failed may have been stored all the same (a connection to
PostgreSQL lost after its commit): before the terminal event is tried again,
the store is asked whether it is there. The record is written only once the
terminal event is stored, so a run recorded as ended has its ending in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import trio

from netra_trio.logs import log_event
from netra_trio.protocol.server_messages import AgentCompleted, AgentError
from netra_trio.server.emitter import RunEmitter
from netra_trio.storage.base import RunStore, StorageError
from netra_trio.storage.records import RunRecord

RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0
STOP_GRACE_S = 5.0


@attrs.frozen
class Ending:
    """How a run ended: its terminal event, and what its record says."""

    event: AgentCompleted | AgentError
    status: str  # success | cancelled | error | interrupted
    error_code: str | None = None
    agents: tuple[str, ...] = ()


def failed(agent_name: str, code: str, message: str, *, status: str = "error") -> Ending:
    """An ending in ``agent_error``; the record keeps ``code``."""
    event = AgentError(agent_name=agent_name, code=code, message=message)
    return Ending(event, status, code, (agent_name,))


def late_ending(run: RunRecord) -> AgentError:
    """The terminal event that a start gives a run left without one: the
    server stopped first (``INTERRUPTED``), or the store failed as the run
    ended in error (its code, ``INTERNAL`` for the store's own failure)."""
    if run.status in ("running", "interrupted"):
        return AgentError(
            agent_name=run.agent, code="INTERRUPTED", message="the server stopped during the run"
        )
    if run.error_code in (None, "STORAGE"):
        return AgentError(
            agent_name=run.agent, code="INTERNAL", message="the run could not be stored"
        )
    return AgentError(
        agent_name=run.agent,
        code=run.error_code,
        message=f"the run failed ({run.error_code}); its ending could not be stored then",
    )


async def store_ending(
    ending: Ending,
    *,
    run_id: str,
    user_id: str,
    emitter: RunEmitter,
    runs: RunStore,
    stopping: trio.Event,
    on_event_stored: Callable[[], None] | None = None,
) -> bool:
    """Store ``ending`` (the event, then the record) until it is stored: True;
    False when the server stopped first. Cancellation does not end it."""
    writer = _Writer(ending, run_id, emitter, runs, on_event_stored)
    delay = RETRY_FIRST_S
    with trio.CancelScope(shield=True):
        while True:
            outcome = await _attempt(stopping, writer.write)
            if outcome is True:
                if writer.failures:
                    log_event(
                        "run_ending_stored", user=user_id, run=run_id, tries=writer.failures + 1
                    )
                return True
            if isinstance(outcome, StorageError):
                writer.failures += 1
                if writer.failures == 1:
                    log_event(
                        "run_ending_not_stored",
                        logging.WARNING,
                        user=user_id,
                        run=run_id,
                        error=str(outcome),
                        hint="tried again until the store is back",
                    )
            if stopping.is_set():
                log_event(
                    "run_ending_left_to_restart",
                    logging.WARNING,
                    user=user_id,
                    run=run_id,
                    event_stored=writer.event_stored,
                )
                return False
            with trio.move_on_after(delay):
                await stopping.wait()
            delay = min(delay * 2, RETRY_MAX_S)
    raise AssertionError("unreachable")  # (the shield: nothing cancels the loop)


class _Writer:
    def __init__(
        self,
        ending: Ending,
        run_id: str,
        emitter: RunEmitter,
        runs: RunStore,
        on_event_stored: Callable[[], None] | None,
    ) -> None:
        self._ending = ending
        self._run_id = run_id
        self._emitter = emitter
        self._runs = runs
        self._on_event_stored = on_event_stored
        self.failures = 0
        self.event_stored = False

    def _stored(self) -> None:
        self.event_stored = True
        if self._on_event_stored is not None:
            self._on_event_stored()

    async def write(self) -> None:
        ending = self._ending
        if not self.event_stored:
            if self.failures and await self._runs.ending_stored(self._run_id):
                self._stored()
            else:
                # told as it is stored, before a client can see it and answer
                await self._emitter.terminal(ending.event, on_stored=self._stored)
        await self._runs.finish_run(
            self._run_id, ending.status, agents=ending.agents, error_code=ending.error_code
        )


async def _attempt(
    stopping: trio.Event, write: Callable[[], Awaitable[None]]
) -> bool | StorageError:
    """One ``write``: True when done, its StorageError when it failed, False
    when the server's stop cut it off (``STOP_GRACE_S`` after the stop)."""
    outcome: bool | StorageError = False
    async with trio.open_nursery() as nursery:

        async def bound_by_stop() -> None:
            await stopping.wait()
            nursery.cancel_scope.deadline = trio.current_time() + STOP_GRACE_S

        nursery.start_soon(bound_by_stop)
        try:
            await write()
            outcome = True
        except StorageError as exc:
            outcome = exc
        nursery.cancel_scope.cancel()
    return outcome
