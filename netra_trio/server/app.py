"""The server: its listeners, its nursery tree and its graceful shutdown.

    Server.run
     ├─ services (server/services.py, torn down after the hub)
     │   ├─ storage worker thread: every database call, in order
     │   ├─ event log: write stage (number, render, append) -> publish stage
     │   ├─ backplane, receiving side (in-process: publish calls the deliverer)
     │   ├─ session expiry, budget of low-value work
     │   └─ hub nursery (Hub.run)
     │        ├─ listener, in its own cancel scope (cancelled to stop accepting)
     │        ├─ one task per socket: the handshake, then it hands the socket over
     │        └─ one UserHub nursery per user
     │             ├─ one nursery per connection: reader, writer, heartbeat, initial hold
     │             └─ agent runs, each in its own cancel scope
     └─ health and metrics listener (--metrics-host, --metrics-port), signal watcher

An agent event goes: the run's emitter -> the event log's queue -> its write
stage (storage thread) -> its publish stage -> the deliverer -> the user's hub
-> each connection's scheduler -> its writer (or a flush at the end of the
delivery) -> the socket.

The accept loop is ours rather than ``trio.serve_listeners`` because that one
closes each stream when its handler returns, and here the handshake task
returns once the socket belongs to a connection in its user's hub. With
``--tls-cert``/``--tls-key`` each accepted socket is wrapped in a server-side
``trio.SSLStream`` (``server/keys.py`` makes the context): the same port then
speaks only TLS, and the TLS handshake, done on the first read, is bounded by
the handshake timeout like the request it carries.

Shutdown (SIGINT/SIGTERM or ``request_shutdown``): cancel the listener, refuse
late handshakes, close every connection with 1001 after flushing its queue,
give runs ``shutdown_grace_s`` to end, cancel what is left (runs record
themselves as interrupted), then stop the services and close storage.
"""

from __future__ import annotations

import errno
import logging
import signal
import ssl

import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.config import Config, redacted_url
from netra_trio.handlers import default_router
from netra_trio.handlers.router import Router
from netra_trio.logs import log_event
from netra_trio.server.http import serve_http
from netra_trio.server.hub import Hub
from netra_trio.server.keys import load_authenticator, load_tls_context
from netra_trio.server.shared_port import reuse_port_listeners
from netra_trio.server.startup import running_services

_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_S = 0.1


class Server:
    def __init__(
        self,
        config: Config,
        *,
        router: Router | None = None,
        agents: AgentRegistry | None = None,
        reuse_port: bool = False,
    ) -> None:
        """``agents``: the agents to serve; by default the built-in ones and
        those of ``config.agents`` (``--agents``), whose modules are imported
        here (StartupError when one cannot be used). ``reuse_port``: bind the
        listening sockets with SO_REUSEPORT, as a worker of ``--workers`` does,
        so the kernel spreads new connections over every process bound to the
        port."""
        if config.jwt_secret is None and config.uses_secret:
            raise ValueError("the server needs a JWT secret to verify HS* tokens")
        self.config = config
        self._tls: ssl.SSLContext | None = None
        self._router = router or default_router()
        if agents is not None and (config.agents or config.agui_agents):
            raise ValueError("give the agents to serve, or config.agents and agui_agents, not both")
        self._agents = agents if agents is not None else _agents_for(config)
        self._reuse_port = reuse_port
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
        scheme = "ws" if self.config.tls_cert is None else "wss"
        return f"{scheme}://{self.config.host}:{self.port}/ws"

    def request_shutdown(self) -> None:
        self._shutdown.set()

    async def run(
        self,
        *,
        handle_signals: bool = False,
        task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        config = self.config
        authenticator = await load_authenticator(config)
        self._tls = await load_tls_context(config)
        async with running_services(
            config, agents=self._agents, router=self._router, authenticator=authenticator
        ) as runtime:
            self._hub = hub = runtime.hub
            if self._reuse_port:
                listeners = await reuse_port_listeners(config.port, config.host)
            else:
                listeners = await trio.open_tcp_listeners(config.port, host=config.host)
            self.port = listeners[0].socket.getsockname()[1]
            async with trio.open_nursery() as nursery:
                if config.metrics_port is not None:
                    self.metrics_port = await nursery.start(
                        serve_http, hub, config.metrics_host, config.metrics_port
                    )
                    log_event(
                        "metrics_listening",
                        url=f"http://{config.metrics_host}:{self.metrics_port}/metrics",
                    )
                if handle_signals:
                    await nursery.start(self._wait_for_signal)
                runtime.hub_nursery.start_soon(self._listen, listeners, runtime.hub_nursery)
                log_event("listening", url=self.url, database=redacted_url(config.database))
                task_status.started(self)
                await self._shutdown.wait()
                await self._graceful_shutdown(hub, runtime.hub_nursery)
                nursery.cancel_scope.cancel()
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
                    socket_stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    # out of file descriptors or memory: the pending socket waits
                    log_event("accept_error", logging.ERROR, error=errno.errorcode[exc.errno])
                    await trio.sleep(_ACCEPT_RETRY_S)
                    continue
                stream: trio.abc.Stream = socket_stream
                if self._tls is not None:
                    # the TLS handshake happens on the first read, within the
                    # handshake timeout that bounds reading the request
                    stream = trio.SSLStream(
                        socket_stream, self._tls, server_side=True, https_compatible=True
                    )
                handlers.start_soon(self.hub.handle_stream, stream)

    async def _wait_for_signal(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Started before the server reports that it listens, so that a signal
        sent once the listening line is out is always a graceful shutdown."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
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


def _agents_for(config: Config) -> AgentRegistry:
    from netra_trio.agents.registry import agents_for

    return agents_for(config)
