"""The Hub: accepts sockets, decides each handshake, and owns the map of
user id -> UserHub.

Each accepted socket is handled by one task in the hub nursery: it runs the
WebSocket transport (trio-websocket's reader, in a small nursery of its own),
authenticates and admits the handshake synchronously, then hands the
connection to its user's hub and waits for it to end. There is no path from
the Hub to a user's connections except through that user's UserHub.
"""

from __future__ import annotations

import logging
import uuid

import trio
from trio_websocket import ConnectionClosed, wrap_server_stream

from netra_trio.auth import Authenticator
from netra_trio.core.limits import Admission
from netra_trio.errors import AuthError, CloseCode
from netra_trio.handlers.router import Router
from netra_trio.logs import log_event
from netra_trio.server.connection import Connection
from netra_trio.server.handshake import (
    NOT_FOUND,
    SHUTTING_DOWN,
    WS_PATH,
    Admitted,
    Rejection,
    parse_target,
    too_many,
    unauthorized,
)
from netra_trio.server.services import Services
from netra_trio.server.stats import ServerStats
from netra_trio.server.user_hub import HubClosed, UserHub


class Hub:
    def __init__(self, services: Services, authenticator: Authenticator, router: Router) -> None:
        self.services = services
        self.config = services.config
        self._auth = authenticator
        self._router = router
        self.stats = ServerStats()
        self._users: dict[str, UserHub] = {}
        self._nursery: trio.Nursery | None = None
        self._accepting = True
        self._active_streams = 0
        self._drained = trio.Event()

    # -- the map ------------------------------------------------------------------------

    @property
    def users(self) -> dict[str, UserHub]:
        return dict(self._users)

    @property
    def accepting(self) -> bool:
        return self._accepting

    def user_hub(self, user_id: str) -> UserHub | None:
        return self._users.get(user_id)

    def forget(self, user_hub: UserHub) -> None:
        if self._users.get(user_hub.user_id) is user_hub:
            del self._users[user_hub.user_id]
        self._check_drained()

    def _user_hub_for(self, user_id: str) -> UserHub:
        user_hub = self._users.get(user_id)
        if user_hub is None or not user_hub.alive:
            assert self._nursery is not None
            user_hub = UserHub(user_id, self, self.services)
            self._users[user_id] = user_hub
            self._nursery.start_soon(user_hub.run)
        return user_hub

    # -- lifecycle ----------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[trio.Nursery] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(nursery)
            await trio.sleep_forever()

    def begin_shutdown(self) -> None:
        """Refuse new handshakes and close every connection with 1001 (after
        flushing what is queued for it)."""
        self._accepting = False
        for user_hub in tuple(self._users.values()):
            user_hub.close_all(CloseCode.GOING_AWAY, "server shutting down")
        self._check_drained()

    async def wait_drained(self) -> None:
        await self._drained.wait()

    def _check_drained(self) -> None:
        if not self._accepting and not self._users and self._active_streams == 0:
            self._drained.set()

    # -- one socket ---------------------------------------------------------------------

    async def handle_stream(self, stream: trio.abc.Stream) -> None:
        self._active_streams += 1
        try:
            async with trio.open_nursery() as transport:
                try:
                    await self._handle(transport, stream)
                finally:
                    transport.cancel_scope.cancel()
                    with trio.CancelScope(shield=True):
                        await trio.aclose_forcefully(stream)
        except Exception:
            log_event("stream_error", logging.ERROR, exc_info=True)
        finally:
            self._active_streams -= 1
            self._check_drained()

    async def _handle(self, transport: trio.Nursery, stream: trio.abc.Stream) -> None:
        config = self.config
        request = None
        with trio.move_on_after(config.handshake_timeout_s):
            request = await wrap_server_stream(
                transport, stream, message_queue_size=4, max_message_size=config.max_message_bytes
            )
        if request is None:
            return  # no complete handshake in time
        remote = _describe(request.remote)
        decision = self._decide(request.path, request.headers, request.proposed_subprotocols)
        user_hub = None
        if isinstance(decision, Admitted):
            user_hub = self._user_hub_for(decision.principal.user_id)
            if user_hub.try_admit() is Admission.TOO_MANY_CONNECTIONS:
                decision = too_many(config.max_connections_per_user)
        if isinstance(decision, Rejection):
            self.stats.handshakes_rejected[decision.status] += 1
            log_event(
                "handshake_rejected",
                status=decision.status,
                code=str(decision.code),
                reason=decision.message,
                remote=remote,
            )
            with trio.move_on_after(config.close_timeout_s):
                await request.reject(
                    decision.status, extra_headers=decision.headers(), body=decision.body()
                )
            return
        assert user_hub is not None
        # The admitted slot is a lease on the user's hub: released here unless
        # serve() takes it over.
        ws = None
        try:
            with trio.move_on_after(config.handshake_timeout_s):
                ws = await request.accept(subprotocol=decision.principal.subprotocol)
        except ConnectionClosed:
            ws = None
        finally:
            if ws is None:
                user_hub.release()
        if ws is None:
            return
        connection = Connection(
            connection_id=f"c-{uuid.uuid4().hex[:16]}",
            session_id=uuid.uuid4().hex,
            user_hub=user_hub,
            ws=ws,
            stream=stream,
            token_expires_at=decision.principal.expires_at,
            batch_mode=decision.target.batch,
            config=config,
            router=self._router,
            stats=self.stats,
            remote=remote,
        )
        try:
            await user_hub.serve(connection)
        except HubClosed:
            with trio.move_on_after(config.close_timeout_s):
                await ws.aclose(CloseCode.EVICTED, "user hub closed")

    def _decide(
        self, path: str, headers: list[tuple[bytes, bytes]], subprotocols: tuple[str, ...]
    ) -> Admitted | Rejection:
        target = parse_target(path)
        if target.path != WS_PATH:
            return NOT_FOUND
        if not self._accepting:
            return SHUTTING_DOWN
        try:
            principal = self._auth.authenticate(headers, subprotocols)
        except AuthError as exc:
            return unauthorized(str(exc))
        return Admitted(principal, target)


def _describe(endpoint: object) -> str:
    address, port = getattr(endpoint, "address", None), getattr(endpoint, "port", None)
    return f"{address}:{port}" if address is not None else str(endpoint)
