"""The Hub: accepts sockets, decides each handshake, and owns the map of
user id -> UserHub.

Each accepted socket is handled by one task in the hub nursery: the front
door (``server/front_door.py``) holds its slot among its address's handshakes
in progress, reads the request (answering a plain HTTP one), finds the
client's address and screens it; the hub then decides the rest (the
decisions are the core's: ``core/handshake.py``, ``core/limits.py``; the
token is checked by the authenticator), hands the connection (and the socket)
to its user's hub and ends. There is no path from the Hub to a user's connections except through
that user's UserHub. While a user has a hub here, the process is subscribed to
that user's events on the backplane (a handshake joins a hub only once that
subscription is made); the deliverer finds the hub through
:meth:`Hub.recipient`.

(A little over 300 lines: a handshake's admission, on this process, in the
cluster and for its session, stays beside the map of user hubs it changes, so
that every way a slot is taken and given back is read in one place.)
"""

from __future__ import annotations

import logging
import uuid

import attrs
import trio

from netra_trio.auth import Authenticator, Principal
from netra_trio.backplane.base import BackplaneUnavailable
from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.core.handshake import (
    CLUSTER_UNAVAILABLE,
    KEYS_UNAVAILABLE,
    SESSION_FORBIDDEN,
    STORAGE_UNAVAILABLE,
    Rejection,
    Target,
    cooling_down,
    too_many_connections,
    unauthorized,
)
from netra_trio.core.limits import Admission
from netra_trio.errors import AuthError, CloseCode
from netra_trio.handlers.router import Router
from netra_trio.jwt_keys import KeysUnavailable
from netra_trio.logs import log_event
from netra_trio.server.connection import Connection
from netra_trio.server.front_door import Arrival, FrontDoor
from netra_trio.server.readiness import Readiness
from netra_trio.server.services import Services
from netra_trio.server.sessions import SessionForbidden
from netra_trio.server.stats import ServerStats
from netra_trio.server.upgrade import describe_remote
from netra_trio.server.user_hub import HubClosed, UserHub
from netra_trio.storage.base import StorageError


@attrs.frozen
class Admitted:
    principal: Principal
    target: Target


@attrs.frozen
class _Seat:
    """An admitted handshake: its slot on the user's hub and its session."""

    admitted: Admitted
    user_hub: UserHub
    lease_id: str
    session_id: str
    resumed: bool


class Hub:
    def __init__(
        self,
        services: Services,
        authenticator: Authenticator,
        router: Router,
    ) -> None:
        self.services = services
        self.config = config = services.config
        self._auth = authenticator
        self._router = router
        self._backplane = services.backplane
        self.stats: ServerStats = services.stats
        self._users: dict[str, UserHub] = {}
        self._nursery: trio.Nursery | None = None
        self._accepting = True
        self._active_streams = 0
        self._drained = trio.Event()
        self.readiness = Readiness(services, lambda: self._accepting)
        self._door = FrontDoor(config, self.readiness, lambda: self._accepting, self.stats)

    # -- the map ------------------------------------------------------------------------

    @property
    def users(self) -> dict[str, UserHub]:
        return dict(self._users)

    @property
    def accepting(self) -> bool:
        return self._accepting

    def recipient(self, user_id: str) -> UserHub | None:
        """The user's hub on this process (the deliverer's way to it)."""
        return self._users.get(user_id)

    def forget(self, user_hub: UserHub) -> None:
        if self._users.get(user_hub.user_id) is user_hub:
            del self._users[user_hub.user_id]
            self._backplane.unsubscribe(user_hub.user_id)
        self._check_drained()

    async def _user_hub_for(self, user_id: str) -> UserHub:
        """The user's hub, subscribed to the user's events on the backplane.
        The first handshake of a user makes it and subscribes; one arriving
        meanwhile waits for that subscription (no connection starts before
        its user's live events reach this process), and tries afresh if it
        failed."""
        while (user_hub := self._users.get(user_id)) is not None and user_hub.alive:
            await user_hub.subscribed.wait()
            if user_hub.alive:
                return user_hub
        assert self._nursery is not None
        user_hub = UserHub(user_id, self, self.services)
        self._users[user_id] = user_hub
        self._nursery.start_soon(user_hub.run)
        try:
            await self._backplane.subscribe(user_id)
        except BaseException:
            user_hub.abandon()
            raise
        finally:
            user_hub.subscribed.set()
        return user_hub

    # -- lifecycle ----------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[trio.Nursery] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(nursery)
            try:
                await trio.sleep_forever()
            finally:  # the hub is torn down: runs stop waiting for the store
                self.services.stopping.set()

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
        """Handle one accepted socket: close it, unless a connection took it.
        An address with ``max_handshakes_per_address`` handshakes in progress
        gets 429 at once, before anything is read."""
        self._active_streams += 1
        handed_off = False
        peer = describe_remote(stream)
        try:
            try:
                with self._door.entry(peer) as entered:
                    if entered:
                        handed_off = await self._handle(stream, peer)
                    else:
                        await self._door.refuse_unread(stream, peer)
            finally:
                if not handed_off:
                    with trio.CancelScope(shield=True):
                        await trio.aclose_forcefully(stream)
        except Exception:
            log_event("stream_error", logging.ERROR, exc_info=True)
        finally:
            self._active_streams -= 1
            self._check_drained()

    async def _handle(self, stream: trio.abc.Stream, peer: str) -> bool:
        """The handshake; True once the connection runs in its user's hub and
        owns the stream."""
        config = self.config
        arrival = await self._door.arrive(stream, peer)
        if arrival is None:
            return False  # no complete request in time, not HTTP, or a plain one answered
        request, remote = arrival.request, arrival.remote
        decision = arrival.refusal or await self._authenticate(arrival)
        seat = await self._admit(decision, remote) if isinstance(decision, Admitted) else decision
        if isinstance(seat, Rejection):
            await self._door.refuse(arrival, seat)
            return False
        user_hub, admitted = seat.user_hub, seat.admitted
        # The admitted slot is a lease on the user's hub and the session is
        # attached: both are given back here unless the connection takes them.
        ws = None
        try:
            with trio.move_on_after(config.handshake_timeout_s):
                ws = await request.accept(
                    admitted.principal.subprotocol, max_message_bytes=config.max_message_bytes
                )
        finally:
            if ws is None:
                self._give_back(user_hub, seat.lease_id)
                with trio.CancelScope(shield=True):
                    await self.services.sessions.detach(seat.session_id)
        if ws is None:
            return False
        connection = Connection(
            connection_id=seat.lease_id,
            session_id=seat.session_id,
            resumed=seat.resumed,
            user_hub=user_hub,
            ws=ws,
            token_expires_at=admitted.principal.expires_at,
            batch_mode=admitted.target.batch,
            router=self._router,
            stats=self.stats,
            remote=remote,
        )
        try:
            await user_hub.serve(connection)
        except HubClosed:  # (the hub gave its own slot back)
            self.services.coordinator.release_connection(user_hub.user_id, seat.lease_id)
            with trio.CancelScope(shield=True):
                await self.services.sessions.detach(seat.session_id)
            code, reason = (
                (CloseCode.EVICTED, "user hub closed")
                if self._accepting
                else (CloseCode.GOING_AWAY, "server shutting down")
            )
            with trio.move_on_after(config.close_timeout_s):
                await ws.close(code, reason)
            return False
        return True

    async def _admit(self, admitted: Admitted, remote: str) -> _Seat | Rejection:
        """Reserve a connection slot (synchronously: atomic per user on this
        node; then across the cluster), then open or resume the session. A
        refusal gives the slot back."""
        user_id = admitted.principal.user_id
        wait_s = self.services.cooldowns.remaining_s(user_id, trio.current_time())
        if wait_s > 0:
            return cooling_down(wait_s)
        try:
            user_hub = await self._user_hub_for(user_id)
        except BackplaneUnavailable:
            return CLUSTER_UNAVAILABLE
        except StorageError as exc:
            log_event("storage_error", logging.ERROR, user=user_id, error=str(exc))
            return STORAGE_UNAVAILABLE
        if user_hub.try_admit() is Admission.TOO_MANY_CONNECTIONS:
            return too_many_connections(self.config.max_connections_per_user)
        lease_id = f"c-{uuid.uuid4().hex[:16]}"  # the connection's id, if it opens
        coordinator = self.services.coordinator
        try:
            attached_elsewhere = await coordinator.admit_connection(
                user_id, lease_id, self.config.max_connections_per_user
            )
            if attached_elsewhere is None:
                user_hub.release_handshake()
                return too_many_connections(self.config.max_connections_per_user)
        except ServiceUnavailable:
            user_hub.release_handshake()
            return CLUSTER_UNAVAILABLE
        except BaseException:
            user_hub.release_handshake()
            raise
        try:
            session_id, resumed = await self.services.sessions.open(
                user_id, admitted.target.session_id, attached_elsewhere=attached_elsewhere
            )
            await self._name_session(user_id, lease_id, session_id)
        except SessionForbidden:
            self._give_back(user_hub, lease_id)
            self.stats.security_violations += 1
            log_event(
                "security_violation",
                logging.WARNING,
                user=user_id,
                remote=remote,
                reason="session of another user requested at the handshake",
            )
            return SESSION_FORBIDDEN
        except StorageError as exc:
            self._give_back(user_hub, lease_id)
            log_event("storage_error", logging.ERROR, user=user_id, error=str(exc))
            return STORAGE_UNAVAILABLE
        except BaseException:
            self._give_back(user_hub, lease_id)
            raise
        return _Seat(admitted, user_hub, lease_id, session_id, resumed)

    async def _name_session(self, user_id: str, lease_id: str, session_id: str) -> None:
        """Tell the cluster which session the connection is attached to (so no
        node deletes it to make room); without Redis, the connection goes on."""
        try:
            await self.services.coordinator.tag_connection(user_id, lease_id, session_id)
        except ServiceUnavailable as exc:
            log_event("session_not_named", logging.WARNING, user=user_id, error=str(exc))

    def _give_back(self, user_hub: UserHub, lease_id: str) -> None:
        """A slot that no connection took: on this node and in the cluster."""
        self.services.coordinator.release_connection(user_hub.user_id, lease_id)
        user_hub.release_handshake()

    async def _authenticate(self, arrival: Arrival) -> Admitted | Rejection:
        request = arrival.request
        try:
            principal = await self._auth.authenticate(request.headers, request.subprotocols)
        except AuthError as exc:
            return unauthorized(str(exc))
        except KeysUnavailable:
            return KEYS_UNAVAILABLE
        return Admitted(principal, arrival.target)
