"""The deliverer: committed events from the backplane to the user hubs of this process.

The backplane hands it batches of committed events of the users this process
holds. Each run of consecutive events of one user goes to that user's hub in
one call, which queues them on every connection of the user without waking
their writers; once the whole batch is handed out, each hub that was given
events flushes its connections once (each writes what it has queued, in one
write when its writer is idle). A hub that fails does not stop the others.
Notices from other processes go to their user's hub the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from netra_trio.backplane.notices import Notice
from netra_trio.logs import log_event
from netra_trio.storage.records import StoredEvent


class Recipient(Protocol):
    """One user's hub on this process."""

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Queue ``events`` (all of this user) on each connection, without writing."""
        ...

    def flush(self) -> None:
        """Have each connection write what it has queued."""
        ...

    def notice(self, notice: Notice) -> None:
        """Act on a notice from another process (a frame for the connections, a stop)."""
        ...


class Recipients(Protocol):
    def recipient(self, user_id: str) -> Recipient | None: ...


class Deliverer:
    def __init__(self, recipients: Recipients) -> None:
        self._recipients = recipients

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        recipients = self._recipients
        given: dict[Recipient, None] = {}  # insertion order: first given, first flushed
        i, end = 0, len(events)
        while i < end:
            user_id = events[i].user_id
            j = i + 1
            while j < end and events[j].user_id == user_id:
                j += 1
            recipient = recipients.recipient(user_id)
            if recipient is not None:
                try:
                    recipient.deliver(events[i:j])
                except Exception:
                    log_event(
                        "event_delivery_error",
                        logging.ERROR,
                        user=user_id,
                        seq=events[i].seq,
                        events=j - i,
                        exc_info=True,
                    )
                given[recipient] = None
            i = j
        for recipient in given:
            try:
                recipient.flush()
            except Exception:
                log_event("delivery_flush_error", logging.ERROR, exc_info=True)

    def notice(self, notice: Notice) -> None:
        recipient = self._recipients.recipient(notice.user_id)
        if recipient is None:
            return
        try:
            recipient.notice(notice)
        except Exception:
            log_event("notice_error", logging.ERROR, user=notice.user_id, exc_info=True)
