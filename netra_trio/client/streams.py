"""The iterators a client hands out: the events of one run, the stream of
all agent events, and the changes of the connection's state; and the error
an ``error`` reply raises."""

from __future__ import annotations

from typing import Any, Protocol

from netra_trio.client.errors import ClientError, ProtocolError, RequestTimeout
from netra_trio.client.subscriptions import Ended, Subscription
from netra_trio.protocol.server_frames import ServerFrame
from netra_trio.protocol.server_messages import ErrorPayload


class StreamHost(Protocol):
    """What a stream needs of its client."""

    def _deadline(self, timeout_s: float | None) -> float: ...

    async def _transmit(self, text: str, deadline: float) -> None: ...

    async def _next(
        self, subscription: Subscription, deadline: float | None
    ) -> ServerFrame | None: ...

    def _unsubscribe(self, subscription: Subscription) -> None: ...


class RunStream:
    """The events of one run (made by :meth:`BaseClient.run`). ``run_id`` is
    known once its first event arrived (to stop it with ``stop_agent``);
    ``close()`` stops following it (the run goes on)."""

    __slots__ = ("_client", "_deadline", "_done", "_sent", "_subscription", "_text", "_timeout_s")

    def __init__(
        self, client: StreamHost, subscription: Subscription, text: str, timeout_s: float | None
    ) -> None:
        self._client = client
        self._subscription = subscription
        self._text = text
        self._timeout_s = timeout_s
        self._deadline = 0.0
        self._sent = False
        self._done = False

    @property
    def message_id(self) -> str:
        """The request's ``message_id`` (the run's events carry it as ``correlation_id``)."""
        assert self._subscription.correlation_id is not None
        return self._subscription.correlation_id

    @property
    def run_id(self) -> str | None:
        return self._subscription.run_id

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> ServerFrame:
        if self._done:
            raise StopAsyncIteration
        client, subscription = self._client, self._subscription
        try:
            if not self._sent:
                self._sent = True
                self._deadline = client._deadline(self._timeout_s)
                await client._transmit(self._text, self._deadline)
            while True:
                deadline = None if subscription.started else self._deadline
                frame = await client._next(subscription, deadline)
                if frame is None:
                    raise RequestTimeout(f"the run {self.message_id} did not start in time")
                if frame.seq is not None:
                    break
                raise_if_error(frame)  # else message_ack: the run is on its way
        except Ended:
            self.close()
            raise StopAsyncIteration from None
        except ClientError:
            self.close()
            raise
        if frame.is_terminal:
            self.close()
        return frame

    def close(self) -> None:
        self._done = True
        self._client._unsubscribe(self._subscription)

    def __del__(self) -> None:
        self.close()


class EventStream:
    """An iterator of agent events, subscribed from its creation (events that
    arrive before the first ``__anext__`` are kept). ``close()`` stops it."""

    __slots__ = ("_client", "_subscription")

    def __init__(self, client: StreamHost, subscription: Subscription) -> None:
        self._client = client
        self._subscription = subscription

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServerFrame:
        try:
            frame = await self._client._next(self._subscription, None)
        except Ended:
            self.close()
            raise StopAsyncIteration from None
        except ClientError:
            self.close()  # the client gave up, or this stream fell too far behind
            raise
        assert frame is not None
        return frame

    def close(self) -> None:
        self._client._unsubscribe(self._subscription)

    def __del__(self) -> None:
        self.close()


def raise_if_error(frame: ServerFrame) -> None:
    if frame.type != "error":
        return
    payload = frame.payload
    if isinstance(payload, ErrorPayload):
        raise ProtocolError(
            payload.code,
            payload.message,
            details=payload.details,
            correlation_id=frame.correlation_id,
        )
    raise ProtocolError(
        str(_get(payload, "code", "UNKNOWN")),
        str(_get(payload, "message", "")),
        correlation_id=frame.correlation_id,
    )


def _get(payload: Any, key: str, default: str) -> Any:
    return payload.get(key, default) if isinstance(payload, dict) else default


class ChangeHost(Protocol):
    """What :class:`ConnectionChanges` needs of its client."""

    @property
    def connected(self) -> bool: ...

    async def _connection_changed(self, shown: bool) -> bool | None: ...


class ConnectionChanges:
    """``connected`` each time it changes (made by
    :meth:`BaseClient.connection_changes`); ends when the client ends."""

    __slots__ = ("_client", "_shown")

    def __init__(self, client: ChangeHost) -> None:
        self._client = client
        self._shown = client.connected

    def __aiter__(self) -> ConnectionChanges:
        return self

    async def __anext__(self) -> bool:
        changed = await self._client._connection_changed(self._shown)
        if changed is None:
            raise StopAsyncIteration
        self._shown = changed
        return changed
