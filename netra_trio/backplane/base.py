"""The backplane interface: committed events from the event log to every
process that holds the events' users.

The event log publishes each committed batch, in commit order. Each process
runs its backplane's receiving side, which hands the events of the users this
process subscribed to (those with a hub here) to its :class:`EventSink` (the
deliverer), each exactly once, each user's in ``seq`` order (also when
processes publish their batches out of order), and never the events of a user
this process did not subscribe to. The order between different users' events
is not kept. Beside events, a backplane carries notices (``notices.py``) to
the *other* processes that hold a notice's user. ``tests/backplane/conformance.py``
checks an implementation against this contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import trio

from netra_trio.backplane.notices import Notice
from netra_trio.storage.records import StoredEvent


class BackplaneUnavailable(Exception):
    """What the backplane needs (Redis) cannot be reached now."""


class EventSink(Protocol):
    def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Committed events, in order, of users this process subscribed to."""
        ...

    def notice(self, notice: Notice) -> None:
        """A notice from another process, for a user this process subscribed to."""
        ...


class Backplane(Protocol):
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Send a committed batch to every process that holds its users."""
        ...

    async def notify(self, notice: Notice) -> int:
        """Hand ``notice`` to the other processes that hold its user; returns
        how many there are (0: no other process holds the user). Raises
        BackplaneUnavailable when it cannot be sent."""
        ...

    async def subscribe(self, user_id: str) -> None:
        """Receive ``user_id``'s events from now on (once this returns).
        Raises BackplaneUnavailable when it cannot (StorageError when the
        event store it reads the user's last seq from fails)."""
        ...

    def unsubscribe(self, user_id: str) -> None:
        """Stop receiving ``user_id``'s events (at the latest soon after)."""
        ...

    async def run(
        self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The receiving side: hand events to ``sink`` until cancelled."""
        ...
