"""Where the frames a client reads go: to the subscriptions of the waiting
requests, the runs and the event streams; agent events that no event stream
takes wait (up to a bound) for the next one, so that a resume right after
connecting is not lost before the caller asks for events."""

from __future__ import annotations

from collections import deque

from netra_trio.client.subscriptions import Subscription
from netra_trio.protocol.server_frames import ServerFrame


class Mailbox:
    __slots__ = ("_subscriptions", "_unclaimed")

    def __init__(self, max_unclaimed: int) -> None:
        self._subscriptions: set[Subscription] = set()
        self._unclaimed: deque[ServerFrame] = deque(maxlen=max_unclaimed)  # the oldest go

    def add(self, subscription: Subscription) -> None:
        self._subscriptions.add(subscription)

    def discard(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def hand_over_unclaimed(self, stream: Subscription) -> None:
        """A new event stream starts with the events no stream took."""
        while self._unclaimed:
            stream.push(self._unclaimed.popleft())

    def deliver(self, frame: ServerFrame) -> None:
        """``frame`` to every subscription that wants it (an agent event that
        no event stream takes is kept for the next one)."""
        streamed = False
        for subscription in list(self._subscriptions):
            if subscription.wants(frame):
                streamed = streamed or subscription.correlation_id is None
                if not subscription.push(frame):
                    self._subscriptions.discard(subscription)
        if frame.seq is not None and not streamed:
            self._unclaimed.append(frame)

    def fail_unanswered(self, error: BaseException) -> None:
        """The connection dropped: requests that got no reply yet fail."""
        for subscription in list(self._subscriptions):
            if subscription.replies and not subscription.started:
                subscription.fail(error)
                self._subscriptions.discard(subscription)

    def fail_all(self, error: BaseException) -> None:
        for subscription in self._subscriptions:
            subscription.fail(error)
        self._subscriptions.clear()
