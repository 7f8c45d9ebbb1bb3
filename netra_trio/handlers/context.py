"""What a handler may do with the connection that received a message.

Handlers see these protocols, never the server's classes: they reply to the
sender, tell the user's other connections, report a violation, and reach the
user's threads, runs and session through narrow views. There is no way to
address another user from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from netra_trio.core.priority import Priority
from netra_trio.errors import ProtocolError
from netra_trio.protocol.client_messages import ClientMessage
from netra_trio.storage.base import ThreadStore
from netra_trio.storage.records import RunRecord


class RunSlot(Protocol):
    """An admitted run that has not started: it holds its place against the
    limits until it starts or is released (on leaving its ``with`` block)."""

    async def start(
        self, thread_id: str, run_input: Any, *, options: dict[str, Any] | None = None
    ) -> None:
        """Start the run; ProtocolError (AGENT_BUSY, UNAVAILABLE) when the
        cluster gives the new thread to another run, or cannot be asked."""
        ...

    def __enter__(self) -> RunSlot: ...

    def __exit__(self, *exc_info: object) -> None: ...


class RunControl(Protocol):
    """The user's agent runs."""

    async def reserve(
        self, agent_name: str, thread_id: str | None, *, correlation_id: str | None = None
    ) -> RunSlot:
        """Admit a run of ``agent_name`` (on ``thread_id``, or on a thread yet
        to be made), or raise ProtocolError (NOT_FOUND, AGENT_BUSY, UNAVAILABLE)."""
        ...

    def stop(self, run_id: str) -> bool:
        """Cancel an active run of this user on this process; False when there is none."""
        ...

    async def stop_elsewhere(self, run_id: str, *, correlation_id: str | None = None) -> bool:
        """Ask the other processes of the cluster to stop the run; False when
        no other process holds this user. Raises ProtocolError (UNAVAILABLE)
        when they cannot be reached."""
        ...

    async def find(self, run_id: str) -> RunRecord | None:
        """The stored record of a run (of any user: the caller checks)."""
        ...


class SessionAccess(Protocol):
    async def get(self, session_id: str, user_id: str) -> dict[str, Any]: ...

    async def update(
        self, session_id: str, user_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]: ...


class HandlerContext(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def connection_id(self) -> str: ...

    @property
    def session_id(self) -> str: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def threads(self) -> ThreadStore: ...

    @property
    def runs(self) -> RunControl: ...

    @property
    def sessions(self) -> SessionAccess: ...

    def reply(
        self, payload: object, *, correlation_id: str | None = None, thread_id: str | None = None
    ) -> None: ...

    def reply_raw(
        self,
        kind: str,
        payload: dict[str, Any],
        priority: Priority,
        *,
        correlation_id: str | None = None,
    ) -> None: ...

    def send_error(self, error: ProtocolError) -> None: ...

    async def notify_others(
        self, payload: object, *, coalesce_key: tuple[str, ...] | None = None
    ) -> None:
        """Send ``payload`` to the user's other connections, on every process."""
        ...

    def security_violation(
        self, reason: str, *, correlation_id: str | None = None, message: str = ...
    ) -> None:
        """Log and count a violation and answer FORBIDDEN (with ``message``);
        too many close the connection with 1008."""
        ...

    async def rate_limit(self, cost: int, correlation_id: str | None = None) -> bool: ...

    async def replay(self, last_seq: int) -> tuple[int, bool]: ...

    async def verify_token(self, token: str) -> tuple[str, float]:
        """``(user_id, expires_at)`` of a token, judged as at the handshake.
        Raises AuthError, or KeysUnavailable when its key set cannot be fetched."""
        ...

    def renew_token(self, expires_at: float) -> None:
        """The connection now expires at ``expires_at`` (Unix seconds)."""
        ...

    async def wait_low_value_turn(self) -> None:
        """Wait until low-value work (typing indicators) may go on."""
        ...


M = TypeVar("M", bound=ClientMessage)
Handler = Callable[[HandlerContext, M], Awaitable[None]]
