"""What handlers see of the connection that received a frame (``handlers/context.py``).

It replies to the client, tells the user's other connections, counts
security violations, checks a new token and moves the connection's expiry to
it (``refresh``), and spends the user's message rate, for text frames and
for WebSocket pings and pongs alike (the decisions are the
core's: ``core/limits.py``, ``core/rate.py``; a violation past the limit or
sustained abuse of the rate closes the connection, after the answer), replays,
and reaches the user's threads, runs and session. The connection's reader makes
one for itself when it starts and hands it to the router with every frame.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import trio

from netra_trio.backplane.base import BackplaneUnavailable
from netra_trio.backplane.notices import FanOut
from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.core.limits import TokenBucket, ViolationAction, ViolationCounter
from netra_trio.core.priority import Priority
from netra_trio.core.rate import ALLOWED, MessageRate, RateDecision, RateVerdict, shown_wait_s
from netra_trio.errors import CloseCode, ErrorCode, ProtocolError
from netra_trio.handlers.context import RunControl
from netra_trio.logs import log_event
from netra_trio.protocol.codec import encode, encode_error, encode_payload
from netra_trio.server.scheduler import OutboundFrame
from netra_trio.server.services import Services
from netra_trio.server.sessions import SessionService
from netra_trio.server.stats import ServerStats
from netra_trio.storage.base import ThreadStore


class UserHubView(Protocol):
    """What handlers reach through the user's hub."""

    @property
    def services(self) -> Services: ...

    @property
    def runs(self) -> RunControl: ...

    @property
    def message_bucket(self) -> TokenBucket: ...

    def fan_out(self, frame: OutboundFrame, *, exclude: object | None = None) -> None: ...


class ServedConnection(Protocol):
    """The connection a context speaks for."""

    @property
    def user_id(self) -> str: ...

    @property
    def connection_id(self) -> str: ...

    @property
    def session_id(self) -> str: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def user_hub(self) -> UserHubView: ...

    def enqueue(self, frame: OutboundFrame) -> None: ...

    def close(
        self, code: int, reason: str, *, drain: bool = False, by_peer: bool = False
    ) -> None: ...

    async def replay(self, last_seq: int) -> tuple[int, bool]: ...

    def renew_token(self, expires_at: float) -> None: ...


class ConnectionContext:
    __slots__ = ("_connection", "_rate", "_stats", "_user_id", "_violations")

    def __init__(self, connection: ServedConnection, stats: ServerStats) -> None:
        config = connection.user_hub.services.config
        self._connection = connection
        self._user_id = connection.user_id
        self._stats = stats
        self._violations: ViolationCounter | None = None  # made on the first violation
        self._rate = MessageRate(connection.user_hub.message_bucket, config.abuse_limit)

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def connection_id(self) -> str:
        return self._connection.connection_id

    @property
    def session_id(self) -> str:
        return self._connection.session_id

    @property
    def is_open(self) -> bool:
        return self._connection.is_open

    @property
    def threads(self) -> ThreadStore:
        return self._connection.user_hub.services.storage.threads

    @property
    def runs(self) -> RunControl:
        return self._connection.user_hub.runs

    @property
    def sessions(self) -> SessionService:
        return self._connection.user_hub.services.sessions

    async def wait_low_value_turn(self) -> None:
        """Low-value work (typing indicators) waits for agent events being
        stored and sent, then for its share of the event loop's round."""
        services = self._connection.user_hub.services
        await services.event_log.yield_to_events()
        await services.low_work.admit()

    async def _cluster_rate(self, cost: int) -> float | None:
        services = self._connection.user_hub.services
        config = services.config
        try:
            return await services.coordinator.take_messages(
                self._user_id, cost, config.message_rate_per_s, config.message_burst
            )
        except ServiceUnavailable:
            return None  # while Redis is away, this process's bucket is the limit

    async def replay(self, last_seq: int) -> tuple[int, bool]:
        return await self._connection.replay(last_seq)

    async def verify_token(self, token: str) -> tuple[str, float]:
        return await self._connection.user_hub.services.authenticator.averify(token)

    def renew_token(self, expires_at: float) -> None:
        self._connection.renew_token(expires_at)
        log_event(
            "token_refreshed",
            user=self._user_id,
            connection=self.connection_id,
            expires_at=round(expires_at, 3),
        )

    def reply(
        self, payload: object, *, correlation_id: str | None = None, thread_id: str | None = None
    ) -> None:
        text, priority = encode_payload(payload, correlation_id=correlation_id, thread_id=thread_id)
        self._connection.enqueue(OutboundFrame(self._user_id, text, priority))

    def reply_raw(
        self,
        kind: str,
        payload: dict[str, Any],
        priority: Priority,
        *,
        correlation_id: str | None = None,
    ) -> None:
        text = encode(kind, payload, correlation_id=correlation_id)
        self._connection.enqueue(OutboundFrame(self._user_id, text, priority))

    def send_error(self, error: ProtocolError) -> None:
        text, priority = encode_error(error)
        self._stats.errors_sent[str(error.code)] += 1
        log_event(
            "client_error",
            logging.INFO,
            user=self._user_id,
            connection=self.connection_id,
            code=str(error.code),
            message=error.message,
        )
        self._connection.enqueue(OutboundFrame(self._user_id, text, priority))

    async def notify_others(
        self, payload: object, *, coalesce_key: tuple[str, ...] | None = None
    ) -> None:
        """Here at once; on the other processes through the backplane, where
        a notice that cannot be sent is dropped (these frames may be shed)."""
        text, priority = encode_payload(payload)
        connection = self._connection
        connection.user_hub.fan_out(
            OutboundFrame(self._user_id, text, priority, coalesce_key), exclude=connection
        )
        backplane = connection.user_hub.services.backplane
        try:
            await backplane.notify(FanOut(self._user_id, text, priority, coalesce_key))
        except BackplaneUnavailable as exc:
            log_event("notice_dropped", logging.WARNING, user=self._user_id, error=str(exc))

    def security_violation(
        self,
        reason: str,
        *,
        correlation_id: str | None = None,
        message: str = "a frame may only act for the connection's own user",
    ) -> None:
        if self._violations is None:
            limit = self._connection.user_hub.services.config.max_violations
            self._violations = ViolationCounter(limit)
        action = self._violations.record()
        self._stats.security_violations += 1
        log_event(
            "security_violation",
            logging.WARNING,
            user=self._user_id,
            connection=self.connection_id,
            reason=reason,
            count=self._violations.count,
        )
        self.send_error(ProtocolError(ErrorCode.FORBIDDEN, message, correlation_id=correlation_id))
        if action is ViolationAction.REFUSE_AND_CLOSE:
            self._close_for_abuse("repeated security violations")

    async def rate_limit(self, cost: int, correlation_id: str | None = None) -> bool:
        """Spend ``cost`` messages of the user's budget (this process's, then
        the cluster's). When over it, answer RATE_LIMITED (with the seconds to
        wait) and return True; sustained refusals close the connection with
        1008, after that answer."""
        decision = self._rate.check(trio.current_time(), cost)
        if decision is ALLOWED:
            retry_after = await self._cluster_rate(cost)
            if retry_after is None:
                return False
            decision = self._rate.refused(trio.current_time(), retry_after)
        self._refuse(decision, "messages", correlation_id)
        return True

    def spend_control_frame(self, kind: str) -> bool:
        """A WebSocket ping or pong from the client (``kind``) spends one
        message of the user's budget on this process (never the cluster's: no
        round trip per control frame). False when over it: answered
        RATE_LIMITED (the frame itself is not answered), and sustained
        refusals close the connection with 1008, as for text frames."""
        decision = self._rate.check(trio.current_time())
        if decision is ALLOWED:
            return True
        self._refuse(decision, f"{kind} frames", None)
        return False

    def _refuse(self, decision: RateDecision, what: str, correlation_id: str | None) -> None:
        self._stats.rate_limited += 1
        wait_s = shown_wait_s(decision.retry_after_s)
        self.send_error(
            ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"too many {what}; retry in {wait_s:g} s",
                correlation_id=correlation_id,
                details={"retry_after_s": wait_s},
            )
        )
        if decision.verdict is RateVerdict.REFUSE_AND_CLOSE:
            log_event(
                "abuse",
                logging.WARNING,
                user=self._user_id,
                connection=self.connection_id,
                reason=f"rate of {what} exceeded after repeated warnings",
            )
            self._close_for_abuse("message rate exceeded")

    def _close_for_abuse(self, reason: str) -> None:
        """Close with 1008, after what is queued; the user's handshakes are
        refused for ``abuse_cooldown_s``."""
        self._connection.user_hub.services.cooldowns.start(self._user_id, trio.current_time())
        self._connection.close(CloseCode.POLICY_VIOLATION, reason, drain=True)
