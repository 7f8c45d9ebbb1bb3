"""One client's state across all of its connections, without I/O.

:class:`ClientCore` is what the Trio and asyncio clients share: it builds
each handshake (the URL with ``?session_id=`` of the session to resume, the
token as the ``Authorization`` header), says which ``seq`` to ``resume``
from once connected and which events to drop as already seen, when to
refresh the token, and what to do when a connection ends or cannot be
opened (``decisions.py``). The shells feed it what happened, with ``now`` in
Unix seconds, and act on its answers.
"""

from __future__ import annotations

import enum
import random

import attrs

from netra_trio.client.core.backoff import Backoff, ReconnectPolicy
from netra_trio.client.core.decisions import (
    EXPIRY_SKEW_S,
    GIVE_UP_CODES,
    POLICY_VIOLATION,
    SESSION_EXPIRED,
    Decision,
    GiveUp,
    Reconnect,
    status_retryable,
)
from netra_trio.client.core.resume import ResumeTracker
from netra_trio.client.core.tokens import TokenClock
from netra_trio.client.core.urls import ServerAddress
from netra_trio.client.errors import (
    ClientError,
    ConnectFailed,
    ConnectionClosed,
    HandshakeRejected,
    TokenUnavailable,
)


class Phase(enum.Enum):
    CONNECTING = "connecting"  # the first connection is being opened
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"  # given up, or closed by the caller: final


@attrs.frozen
class Handshake:
    host: str
    port: int
    secure: bool
    host_header: str
    resource: str
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)


class ClientCore:
    def __init__(
        self,
        address: ServerAddress,
        token: str,
        *,
        now: float,
        has_token_provider: bool = False,
        policy: ReconnectPolicy | None = None,
        refresh_margin_s: float | None = 60.0,
        last_seq: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if last_seq is not None and (isinstance(last_seq, bool) or last_seq < 0):
            raise ValueError(f"last_seq must be None or at least 0, got {last_seq!r}")
        if refresh_margin_s is not None and not refresh_margin_s > 0:
            raise ValueError(f"refresh_margin_s must be positive or None, got {refresh_margin_s!r}")
        self.address = address
        self.has_token_provider = has_token_provider
        self.tokens = TokenClock(token, now, refresh_margin_s)
        self.resume = ResumeTracker(last_seq=last_seq)
        self._rng = rng or random.Random()
        self.backoff = Backoff(policy or ReconnectPolicy(), self._rng)
        self.phase = Phase.CONNECTING
        self.session_id: str | None = address.session_id  # a session named in the URL
        self.user_id: str | None = None
        self.connections = 0  # connections established so far
        self._opened_at = now
        self._id_prefix = f"c{self._rng.getrandbits(32):08x}"
        self._ids = 0

    # --- before a handshake ---------------------------------------------------

    def token_needed(self, now: float) -> bool:
        """Whether to ask the token provider for a new token before the next
        handshake (the current one is near or past its ``exp``)."""
        return self.has_token_provider and self.tokens.due(now)

    def use_token(self, token: str, now: float) -> None:
        self.tokens.replace(token, now)

    def handshake(self) -> Handshake:
        address = self.address
        return Handshake(
            host=address.host,
            port=address.port,
            secure=address.secure,
            host_header=address.host_header,
            resource=address.resource(self.session_id),
            headers=(("Authorization", f"Bearer {self.tokens.token}"),),
        )

    # --- an open connection ---------------------------------------------------

    def established(
        self, session_id: str, user_id: str, server_time: float, now: float
    ) -> int | None:
        """``connection_established`` arrived: the ``last_seq`` to send in
        ``resume`` now (None: send none). Raises TokenUnavailable when the
        token is of another user than the connections before."""
        if self.user_id is not None and user_id != self.user_id:
            raise TokenUnavailable(
                "the token provider gave a token of another user: the events of one"
                " client belong to one user"
            )
        first = self.connections == 0
        self.user_id, self.session_id = user_id, session_id
        self.connections += 1
        self.phase = Phase.OPEN
        self._opened_at = now
        self.resume.connected(server_time)
        return self.resume.resume_from(first_connection=first)

    def accept_event(self, seq: int, timestamp: float | None) -> bool:
        """An agent event arrived: True to deliver it, False when it was seen before."""
        return self.resume.accept(seq, timestamp)

    def resumed(self, gap: bool) -> None:
        self.resume.resumed(gap)

    def next_message_id(self) -> str:
        """Ids unique among the user's connections: a run's events reach every
        one of them, correlated with the request that started it."""
        self._ids += 1
        return f"{self._id_prefix}-{self._ids}"

    # --- token refresh on an open connection ----------------------------------

    def refresh_at(self) -> float | None:
        """When to send ``refresh`` (Unix seconds); None: never on its own."""
        if not self.has_token_provider:
            return None
        return self.tokens.refresh_at()

    def refreshed(self, token: str, expires_at: float, now: float) -> None:
        self.tokens.refreshed(token, expires_at, now)

    def refresh_failed(self, now: float) -> None:
        self.tokens.refresh_failed(now)

    # --- a connection that ended or could not be opened -----------------------

    def closed(self, code: int, reason: str, now: float) -> Decision:
        """The open connection ended with ``code`` (1006: without a close frame)."""
        error = ConnectionClosed(code, reason)
        if self.phase is Phase.OPEN:
            self.backoff.connection_ended(now - self._opened_at)
        if code in GIVE_UP_CODES:
            return self._give_up(error)
        if code == POLICY_VIOLATION and not self._token_ran_out(now):
            return self._give_up(error)
        new_session = code == SESSION_EXPIRED
        if new_session:
            self.session_id = None
        return self._retry(error, new_session=new_session)

    def refused(self, error: HandshakeRejected) -> Decision:
        if not status_retryable(error.status):
            return self._give_up(error)
        return self._retry(error, retry_after_s=error.retry_after_s)

    def unreachable(self, error: ConnectFailed) -> Decision:
        return self._retry(error)

    def close(self) -> None:
        """The caller closed the client: nothing more will be opened."""
        self.phase = Phase.CLOSED

    def _token_ran_out(self, now: float) -> bool:
        """A 1008 that the token's expiry explains, and a provider to get another."""
        expires_at = self.tokens.expires_at
        if not self.has_token_provider or expires_at is None:
            return False
        return now >= expires_at - max(self.tokens.margin(), EXPIRY_SKEW_S)

    def _retry(
        self, error: ClientError, *, new_session: bool = False, retry_after_s: float | None = None
    ) -> Decision:
        if self.connections == 0 or self.phase is Phase.CLOSED or self.backoff.exhausted():
            return self._give_up(error)
        self.phase = Phase.RECONNECTING
        return Reconnect(self.backoff.next_delay(retry_after_s), new_session=new_session)

    def _give_up(self, error: ClientError) -> GiveUp:
        self.phase = Phase.CLOSED
        return GiveUp(error)
