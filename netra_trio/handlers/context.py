"""What a handler may do with the connection that received a message.

Handlers see this protocol, never the server's connection class: they reply
to the sender, tell the user's other connections, or report a violation.
There is no way to address another user from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from netra_trio.core.priority import Priority
from netra_trio.errors import ProtocolError
from netra_trio.protocol.client_messages import ClientMessage

if TYPE_CHECKING:
    from netra_trio.server.runs import RunManager
    from netra_trio.server.services import Services


class HandlerContext(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def connection_id(self) -> str: ...

    @property
    def is_open(self) -> bool: ...

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

    def notify_others(self, payload: object, *, coalesce_key: Hashable | None = None) -> None: ...

    def security_violation(self, reason: str, *, correlation_id: str | None = None) -> None: ...

    @property
    def session_id(self) -> str: ...

    def rate_limit(self, cost: int, correlation_id: str | None = None) -> bool: ...

    async def replay(self, last_seq: int) -> tuple[int, bool]: ...

    @property
    def services(self) -> Services: ...

    @property
    def runs(self) -> RunManager: ...


M = TypeVar("M", bound=ClientMessage)
Handler = Callable[[HandlerContext, M], Awaitable[None]]
