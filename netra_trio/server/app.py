"""The server's nursery tree and its graceful shutdown.

    Server.run
     ├─ event log writer (group commit, then delivery in seq order), metrics
     └─ hub nursery (Hub.run), torn down before the event log and storage
          ├─ listener, in its own cancel scope (cancelled to stop accepting)
          ├─ one task per socket: the handshake, then it hands the socket over
          └─ one UserHub nursery per user: connections (reader, writer, heartbeat), runs

The accept loop is ours rather than ``trio.serve_listeners`` because that one
closes each stream when its handler returns, and here the handshake task
returns once the socket belongs to a connection in its user's hub.

Shutdown (SIGINT/SIGTERM or ``request_shutdown``): cancel the listener, refuse
late handshakes, close every connection with 1001 after flushing its queue,
give runs ``shutdown_grace_s`` to end, cancel what is left (runs record
themselves as interrupted), then close storage.
"""

from __future__ import annotations

import errno
import logging
import secrets
import signal

import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.agents.llm import LLMClient
from netra_trio.auth import Authenticator
from netra_trio.config import Config
from netra_trio.core.sessions import SessionPolicy
from netra_trio.handlers import default_router
from netra_trio.handlers.router import Router
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode
from netra_trio.server.event_log import EventLog
from netra_trio.server.http import serve_http
from netra_trio.server.hub import Hub
from netra_trio.server.round_budget import RoundBudget
from netra_trio.server.services import Services
from netra_trio.server.sessions import SessionCipher, SessionService
from netra_trio.storage.base import NewEvent, Retention, RunRecord, Storage
from netra_trio.storage.sqlite import SqliteStorage

_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_S = 0.1


class Server:
    def __init__(
        self, config: Config, *, router: Router | None = None, agents: AgentRegistry | None = None
    ) -> None:
        if config.jwt_secret is None:
            raise ValueError("the server needs a JWT secret")
        self.config = config
        self.authenticator = Authenticator(
            secret=config.jwt_secret,
            algorithm=config.jwt_algorithm,
            audience=config.jwt_audience,
            issuer=config.jwt_issuer,
        )
        self._router = router or default_router()
        self._agents = agents if agents is not None else _default_agents()
        self._hub: Hub | None = None
        self.port = 0
        self.metrics_port: int | None = None
        self._listen_scope = trio.CancelScope()
        self._shutdown = trio.Event()

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the server has not started")
        return self._hub

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws"

    def request_shutdown(self) -> None:
        self._shutdown.set()

    async def run(
        self,
        *,
        handle_signals: bool = False,
        task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        config = self.config
        storage = await SqliteStorage.open(
            config.database,
            busy_timeout_s=config.database_busy_timeout_s,
            retention=Retention(config.event_retention_count, config.event_retention_s),
        )
        try:
            await _record_interrupted_runs(storage)
            listeners = await trio.open_tcp_listeners(config.port, host=config.host)
            self.port = listeners[0].socket.getsockname()[1]
            async with trio.open_nursery() as outer:
                event_log = EventLog(storage)
                await outer.start(event_log.run)
                sessions = SessionService(
                    storage,
                    SessionCipher(_session_key(config)),
                    SessionPolicy(config.idle_timeout_s, config.max_sessions_per_user),
                )
                await outer.start(sessions.run)
                low_work = RoundBudget()
                await outer.start(low_work.run)
                services = Services(
                    config=config,
                    storage=storage,
                    event_log=event_log,
                    agents=self._agents,
                    sessions=sessions,
                    low_work=low_work,
                    llm=_llm_client(config),
                )
                self._hub = hub = Hub(services, self.authenticator, self._router)
                if config.metrics_port is not None:
                    self.metrics_port = await outer.start(
                        serve_http, hub, config.host, config.metrics_port
                    )
                    log_event(
                        "metrics_listening", url=f"http://{config.host}:{self.metrics_port}/metrics"
                    )
                if handle_signals:
                    outer.start_soon(self._wait_for_signal)
                # The hub lives in a nursery of its own: it must have finished
                # tearing down (runs record their interruption through the event
                # log) before the event log and storage stop.
                async with trio.open_nursery() as hub_holder:
                    hub_nursery: trio.Nursery = await hub_holder.start(hub.run)
                    hub_nursery.start_soon(self._listen, listeners, hub_nursery)
                    log_event("listening", url=self.url, database=config.database)
                    task_status.started(self)
                    await self._shutdown.wait()
                    await self._graceful_shutdown(hub, hub_nursery)
                outer.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await storage.close()
        log_event("stopped", closes=dict(self.hub.stats.closes_by_code))

    async def _listen(
        self, listeners: list[trio.SocketListener], handler_nursery: trio.Nursery
    ) -> None:
        with self._listen_scope:
            async with trio.open_nursery() as nursery:
                for listener in listeners:
                    nursery.start_soon(self._accept_loop, listener, handler_nursery)

    async def _accept_loop(self, listener: trio.SocketListener, handlers: trio.Nursery) -> None:
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    # out of file descriptors or memory: the pending socket waits
                    log_event("accept_error", logging.ERROR, error=errno.errorcode[exc.errno])
                    await trio.sleep(_ACCEPT_RETRY_S)
                    continue
                handlers.start_soon(self.hub.handle_stream, stream)

    async def _wait_for_signal(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log_event("signal", signal=signal.Signals(signum).name)
                self.request_shutdown()
                return

    async def _graceful_shutdown(self, hub: Hub, hub_nursery: trio.Nursery) -> None:
        self._listen_scope.cancel()
        hub.begin_shutdown()
        with trio.move_on_after(self.config.shutdown_grace_s) as grace:
            await hub.wait_drained()
        log_event("shutdown", graceful=not grace.cancelled_caught)
        hub_nursery.cancel_scope.cancel()


async def _record_interrupted_runs(storage: Storage) -> None:
    """Runs that were still running when the process died (no terminal event was
    stored) get their ``agent_error {code: INTERRUPTED}`` now, so a resuming
    client learns how they ended."""
    interrupted = await storage.interrupt_running_runs()
    if not interrupted:
        return
    events = []
    for run in interrupted:
        payload = {
            "agent_name": run.agent,
            "code": "INTERRUPTED",
            "message": "the server stopped during the run",
        }

        def frame(seq: int, run: RunRecord = run, payload: dict[str, str] = payload) -> str:
            return encode(
                "agent_error", payload, thread_id=run.thread_id, run_id=run.run_id, seq=seq
            )

        events.append(NewEvent(run.user_id, "agent_error", run.run_id, run.thread_id, frame))
    await storage.append_events(events)
    log_event("runs_interrupted", count=len(interrupted))


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


def _default_agents() -> AgentRegistry:
    from netra_trio.agents.registry import default_agents

    return default_agents()
