"""The agent runs of one user: admitted in one place, started in the user's hub
nursery, each in its own cancel scope (``agent_run.py`` is one run's life),
with a lease that keeps the hub alive while the run works.

Admission (:meth:`RunManager.reserve`) checks that the agent exists and asks
the core's :class:`RunAdmission` whether the thread and the user have room; a
reserved slot counts as an active run until it starts or is released, so the
handler can store the user's message in between without a second check.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import trio

from netra_trio.backplane.base import BackplaneUnavailable
from netra_trio.backplane.notices import StopRun
from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.core.runs import RunAdmission, RunRefusal
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.logs import log_event
from netra_trio.server.agent_run import ActiveRun, run_agent
from netra_trio.server.services import Services
from netra_trio.storage.records import RunRecord


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
        # the run's id, chosen now: it names the slot in the cluster's count
        self.run_id = f"r-{uuid.uuid4().hex[:16]}"
        self.agent_name = agent_name
        self.thread_id = thread_id
        self.correlation_id = correlation_id
        self._open = True

    async def start(
        self, thread_id: str, run_input: Any, *, options: dict[str, Any] | None = None
    ) -> None:
        """Start the run on ``thread_id``; a slot reserved for a thread yet to
        be made names it in the cluster's count first (ProtocolError when it
        cannot)."""
        if not self._open:
            raise RuntimeError("this run slot was already used or released")
        if self.thread_id is None:
            await self._manager._tag(self, thread_id)
        self._open = False
        self._manager._start(self, thread_id, run_input, options or {})

    def release(self) -> None:
        if self._open:
            self._open = False
            self._manager._released(self, started=False)

    def __enter__(self) -> RunSlot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@contextmanager
def _unavailable_as_error(slot: RunSlot) -> Iterator[None]:
    """The cluster cannot be asked: the run is refused with UNAVAILABLE."""
    try:
        yield
    except ServiceUnavailable as exc:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, f"cannot start a run: {exc}", correlation_id=slot.correlation_id
        ) from exc


class RunHost(Protocol):
    """Where a user's runs run: the user's hub."""

    @property
    def user_id(self) -> str: ...

    def start_task(self, fn: Callable[[ActiveRun], Awaitable[None]], arg: ActiveRun) -> bool:
        """Run ``fn(arg)`` in the hub's nursery, holding the hub open meanwhile;
        False when the hub is closing (evicted, shut down): nothing runs."""
        ...


class RunManager:
    def __init__(self, user_hub: RunHost, services: Services) -> None:
        self._user_hub = user_hub
        self._services = services
        self._runs: dict[str, ActiveRun] = {}
        self._slots: list[RunSlot] | None = None  # made on the first request

    @property
    def active(self) -> tuple[ActiveRun, ...]:
        return tuple(self._runs.values())

    async def reserve(
        self, agent_name: str, thread_id: str | None, *, correlation_id: str | None = None
    ) -> RunSlot:
        """Admit a run, or raise ProtocolError: first on this process,
        synchronously (two requests cannot both pass the per-thread and
        per-user limits), then across the cluster."""
        agents = self._services.agents
        if agents.get(agent_name) is None:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"payload.agent: no agent named {agent_name!r}",
                correlation_id=correlation_id,
                details={"agents": list(agents.names)},
            )
        busy: list[str | None] = [run.thread_id for run in self._runs.values() if not run.ended]
        busy += [slot.thread_id for slot in self._slots or ()]
        admission = RunAdmission(self._services.config.max_runs_per_user)
        refusal = admission.check(busy, thread_id)
        if refusal is None:
            slot = RunSlot(self, agent_name, thread_id, correlation_id)
            if self._slots is None:
                self._slots = []
            self._slots.append(slot)
            try:
                refusal = await self._admit_in_cluster(slot)
            except BaseException:
                self._released(slot, started=False)
                raise
            if refusal is None:
                return slot
            self._released(slot, started=False)
        if refusal is RunRefusal.THREAD_BUSY:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"thread {thread_id} already has an active run",
                correlation_id=correlation_id,
            )
        raise ProtocolError(
            ErrorCode.AGENT_BUSY,
            f"at most {admission.max_runs_per_user} runs may be active at once",
            correlation_id=correlation_id,
        )

    async def _admit_in_cluster(self, slot: RunSlot) -> RunRefusal | None:
        with _unavailable_as_error(slot):
            return await self._services.coordinator.admit_run(
                self._user_hub.user_id,
                slot.run_id,
                slot.thread_id,
                self._services.config.max_runs_per_user,
            )

    async def _tag(self, slot: RunSlot, thread_id: str) -> None:
        user_id = self._user_hub.user_id
        with _unavailable_as_error(slot):
            tagged = await self._services.coordinator.tag_run(user_id, slot.run_id, thread_id)
        if not tagged:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"thread {thread_id} already has an active run",
                correlation_id=slot.correlation_id,
            )

    def _released(self, slot: RunSlot, *, started: bool) -> None:
        """The slot is no longer pending: it started a run (which holds the
        cluster's slot until it ends), or it is given back."""
        assert self._slots is not None
        self._slots.remove(slot)
        if not started:
            self._services.coordinator.release_run(self._user_hub.user_id, slot.run_id)

    def stop(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.ended:
            return False
        run.stop_requested = True
        run.scope.cancel()
        return True

    async def stop_elsewhere(self, run_id: str, *, correlation_id: str | None = None) -> bool:
        """Ask the process that runs ``run_id`` to stop it; False when no
        process runs it. A run whose terminal event is stored has ended, though
        its record may still say ``running`` and its lease still be held for a
        moment (its process records the ending and gives the lease back after
        storing the event): a notice would find nothing to stop there, and
        the request would get no answer."""
        user_id = self._user_hub.user_id
        try:
            if run_id not in await self._services.coordinator.live_runs([user_id]):
                return False  # no node holds it (ended, or its node died)
            if await self._services.storage.runs.ending_stored(run_id):
                return False  # ended, its lease not yet given back
            return await self._services.backplane.notify(StopRun(user_id, run_id)) > 0
        except (ServiceUnavailable, BackplaneUnavailable) as exc:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE,
                f"cannot reach the run's process: {exc}",
                correlation_id=correlation_id,
            ) from exc

    async def find(self, run_id: str) -> RunRecord | None:
        return await self._services.storage.runs.get_run(run_id)

    def _start(
        self, slot: RunSlot, thread_id: str, run_input: Any, options: dict[str, Any]
    ) -> None:
        run = ActiveRun(
            run_id=slot.run_id,
            thread_id=thread_id,
            agent_name=slot.agent_name,
            input=run_input,
            options=options,
            correlation_id=slot.correlation_id,
            scope=trio.CancelScope(deadline=trio.current_time() + self._services.config.max_run_s),
        )
        run.on_ending_stored = functools.partial(self._ending_stored, run)
        if not self._user_hub.start_task(self._execute, run):
            # the user's connections are being closed: no run outlives its hub
            log_event("run_not_started", user=self._user_hub.user_id, reason="user hub closing")
            self._released(slot, started=False)
            return
        self._released(slot, started=True)
        self._runs[run.run_id] = run

    async def _execute(self, run: ActiveRun) -> None:
        try:
            await run_agent(run, self._services, self._user_hub.user_id)
        finally:
            self._runs.pop(run.run_id, None)
            if not run.ended:
                self._services.coordinator.release_run(self._user_hub.user_id, run.run_id)

    def _ending_stored(self, run: ActiveRun) -> None:
        """The run's terminal event is stored (and goes out now): its thread
        and its place among the user's runs are free for the next request,
        even before its record is written."""
        run.ended = True
        self._services.coordinator.release_run(self._user_hub.user_id, run.run_id)
