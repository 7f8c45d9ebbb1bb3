"""The agent runs of one user: admitted in one place, started in the user's hub
nursery, each in its own cancel scope (``agent_run.py`` is one run's life),
with a lease that keeps the hub alive while the run works.

Admission (:meth:`RunManager.reserve`) checks that the agent exists and asks
the core's :class:`RunAdmission` whether the thread and the user have room; a
reserved slot counts as an active run until it starts or is released, so the
handler can store the user's message in between without a second check.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from netra_trio.backplane.base import BackplaneUnavailable
from netra_trio.backplane.notices import StopRun
from netra_trio.core.runs import RunAdmission, RunRefusal
from netra_trio.errors import ErrorCode, ProtocolError
from netra_trio.logs import log_event
from netra_trio.server.agent_run import ActiveRun, run_agent
from netra_trio.server.services import Services
from netra_trio.storage.records import RunRecord

_TERMINAL_GRACE_S = 5.0


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
            self._manager._released(self)

    def __enter__(self) -> RunSlot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


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
        busy += [slot.thread_id for slot in self._slots or ()]
        admission = RunAdmission(self._services.config.max_runs_per_user)
        refusal = admission.check(busy, thread_id)
        if refusal is RunRefusal.THREAD_BUSY:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"thread {thread_id} already has an active run",
                correlation_id=correlation_id,
            )
        if refusal is RunRefusal.USER_AT_LIMIT:
            raise ProtocolError(
                ErrorCode.AGENT_BUSY,
                f"at most {admission.max_runs_per_user} runs may be active at once",
                correlation_id=correlation_id,
            )
        slot = RunSlot(self, agent_name, thread_id, correlation_id)
        if self._slots is None:
            self._slots = []
        self._slots.append(slot)
        return slot

    def _released(self, slot: RunSlot) -> None:
        assert self._slots is not None
        self._slots.remove(slot)

    def stop(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None:
            return False
        run.stop_requested = True
        run.scope.cancel()
        return True

    async def stop_elsewhere(self, run_id: str, *, correlation_id: str | None = None) -> bool:
        notice = StopRun(self._user_hub.user_id, run_id)
        try:
            return await self._services.backplane.notify(notice) > 0
        except BackplaneUnavailable as exc:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE,
                f"cannot reach the run's process: {exc}",
                correlation_id=correlation_id,
            ) from exc

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
        if not self._user_hub.start_task(self._execute, run):
            # the user's connections are being closed: no run outlives its hub
            log_event("run_not_started", user=self._user_hub.user_id, reason="user hub closing")
            return run
        self._runs[run.run_id] = run
        return run

    async def _execute(self, run: ActiveRun) -> None:
        try:
            await run_agent(run, self._services, self._user_hub.user_id)
        finally:
            self._runs.pop(run.run_id, None)
