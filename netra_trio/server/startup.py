"""The server's services, built and started in one place, and torn down in order.

:func:`running_services` is what both the server (``app.py``) and the tests'
harness start: it opens storage (a SQLite file locked to this process, unless
it is one node of a cluster), gives the runs an earlier process left without
an ending their terminal event, then starts

- the event log (``pipeline/event_log.py``): its write and publish stages,
- the backplane's receiving side, which hands committed events to the
  deliverer (``pipeline/deliverer.py``), which hands them to the user hubs,
  and the coordinator (``cluster/``: what the nodes of a cluster agree on),
- session expiry and the budget of low-value work per loop round,
- the hub (``hub.py``) in a nursery of its own,

and yields a :class:`Runtime`. On the way out the hub's nursery ends first
(runs record their interruption through the event log; a run whose ending the
store does not take by then is ended by the next start), then the services,
then the backplane, then storage closes. The agents that hold something open
across runs close once the hub has ended (within a few seconds).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs
import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.agents.llm import LLMClient
from netra_trio.auth import Authenticator
from netra_trio.cluster.base import Coordinator
from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.config import Config
from netra_trio.core.sessions import SessionPolicy
from netra_trio.errors import StartupError
from netra_trio.handlers.router import Router
from netra_trio.logs import log_event
from netra_trio.pipeline.deliverer import Deliverer
from netra_trio.pipeline.event_log import EventLog, EventSource
from netra_trio.protocol.converter import CONVERTER
from netra_trio.server.cluster import open_cluster
from netra_trio.server.hub import Hub
from netra_trio.server.round_budget import RoundBudget
from netra_trio.server.run_ending import late_ending
from netra_trio.server.services import Services
from netra_trio.server.sessions import SessionCipher, SessionService
from netra_trio.storage.base import Storage, StorageError
from netra_trio.storage.opening import open_storage
from netra_trio.storage.records import Retention

_AGENTS_CLOSE_S = 5.0  # for the agents to close what they hold open across runs


@attrs.frozen
class Runtime:
    services: Services
    hub: Hub
    hub_nursery: trio.Nursery


@asynccontextmanager
async def running_services(
    config: Config,
    *,
    agents: AgentRegistry,
    router: Router,
    authenticator: Authenticator,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Runtime]:
    """Start everything but the listeners; ``clock`` is the sessions' wall clock."""
    try:
        storage = await open_storage(
            config.database,
            busy_timeout_s=config.database_busy_timeout_s,
            retention=Retention(config.event_retention_count, config.event_retention_s),
            # one process on its own: no other may serve the same file meanwhile
            # (the processes of a cluster share it, and agree through Redis)
            exclusive=config.redis_url is None,
        )
    except StorageError as exc:
        raise StartupError(str(exc)) from exc
    try:
        async with (
            open_cluster(config, storage.events) as cluster,
            trio.open_nursery() as outer,
        ):
            backplane = cluster.backplane
            await outer.start(cluster.coordinator.run)
            async with trio.open_nursery() as nursery:
                event_log = EventLog(storage.events, backplane)
                await nursery.start(event_log.run)
                coordinator = cluster.coordinator
                since = time.time() - config.event_retention_s  # (older ones left the log)
                if await _runs_at_start(storage, event_log, coordinator, since=since):
                    # alive on other nodes now; if a node just died, its leases
                    # lapse within 2 x heartbeat_interval_s: look once more after it
                    nursery.start_soon(
                        _look_again,
                        2 * config.heartbeat_interval_s + 1.0,
                        storage,
                        event_log,
                        coordinator,
                        since,
                    )
                sessions = SessionService(
                    storage.sessions,
                    SessionCipher(_session_key(config)),
                    SessionPolicy(config.idle_timeout_s, config.max_sessions_per_user),
                    clock=clock,
                    shared=config.redis_url is not None,
                )
                await nursery.start(sessions.run)
                low_work = RoundBudget()
                await nursery.start(low_work.run)
                services = Services(
                    config=config,
                    storage=storage,
                    event_log=event_log,
                    agents=agents,
                    sessions=sessions,
                    low_work=low_work,
                    authenticator=authenticator,
                    coordinator=cluster.coordinator,
                    backplane=backplane,
                    llm=_llm_client(config),
                )
                hub = Hub(services, authenticator, router)
                # it outlives the event log, which publishes every batch it committed
                await outer.start(backplane.run, Deliverer(hub))
                # The hub lives in a nursery of its own: it must have finished
                # tearing down (runs record their interruption through the event
                # log) before the event log and storage stop.
                async with trio.open_nursery() as hub_holder:
                    hub_nursery: trio.Nursery = await hub_holder.start(hub.run)
                    yield Runtime(services, hub, hub_nursery)
                    hub_nursery.cancel_scope.cancel()
                nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    finally:
        with trio.move_on_after(_AGENTS_CLOSE_S, shield=True):
            await agents.aclose()  # every run has ended
        with trio.CancelScope(shield=True):
            await storage.close()


async def _record_interrupted_runs(
    storage: Storage, event_log: EventLog, coordinator: Coordinator, *, since: float
) -> bool:
    """Runs left without an ending get it now, so that a resuming client
    learns how they ended: runs still recorded as running that no node of the
    cluster holds (their process died, or stopped before their ending could be
    stored) are recorded as interrupted; then every run recorded as ended
    without its terminal event in the log (its process could not store it)
    gets one, ``agent_error`` (``INTERRUPTED``, or what the run failed with).
    ``since``: older runs' events have left the log. True when some running
    runs are alive on other nodes."""
    running = await storage.runs.running_runs()
    unended = await storage.runs.runs_without_ending(started_after=since)
    if not running and not unended:
        return False
    try:
        alive = await coordinator.live_runs({run.user_id for run in running + unended})
    except ServiceUnavailable as exc:
        log_event("runs_not_checked", logging.WARNING, error=str(exc))
        return True  # not now: look again later
    interrupted = await storage.runs.interrupt_running_runs(keep=alive) if running else []
    if interrupted:
        unended = await storage.runs.runs_without_ending(started_after=since)
    ended = 0
    for run in unended:
        if run.run_id in alive:
            continue
        producer = event_log.producer(EventSource(run.user_id, run.run_id, run.thread_id))
        await producer.put_and_wait("agent_error", CONVERTER.unstructure(late_ending(run)))
        ended += 1
    if interrupted:
        log_event("runs_interrupted", count=len(interrupted))
    if ended:
        log_event("runs_ended_at_start", count=ended)
    return len(interrupted) < len(running)


async def _runs_at_start(
    storage: Storage, event_log: EventLog, coordinator: Coordinator, *, since: float
) -> bool:
    """:func:`_record_interrupted_runs`, where a failure of the database stops
    the start with what is wrong."""
    try:
        return await _record_interrupted_runs(storage, event_log, coordinator, since=since)
    except StorageError as exc:
        raise StartupError(f"cannot use the database at start: {exc}") from exc


async def _look_again(
    after_s: float, storage: Storage, event_log: EventLog, coordinator: Coordinator, since: float
) -> None:
    await trio.sleep(after_s)
    try:
        await _record_interrupted_runs(storage, event_log, coordinator, since=since)
    except StorageError as exc:
        log_event("runs_not_checked", logging.WARNING, error=str(exc))


def _session_key(config: Config) -> bytes:
    key = config.session_key_bytes
    if key is None:
        log_event(
            "session_key_ephemeral",
            logging.WARNING,
            hint="no session key configured: session data will not survive a restart",
        )
        return secrets.token_bytes(32)
    return key


def _llm_client(config: Config) -> LLMClient | None:
    if config.llm_base_url is None:
        return None
    return LLMClient(
        config.llm_base_url,
        config.llm_model,
        api_key=config.llm_api_key,
        timeout_s=config.llm_timeout_s,
    )
