"""How the Redis backplane's messages are written: one line per event,
``[seq, type, run_id, thread_id, created_at]`` as JSON, a tab, and the frame
(JSON frames hold no raw tab or newline)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from netra_trio.storage.records import StoredEvent


def encode_events(events: Sequence[StoredEvent]) -> bytes:
    return b"\n".join(
        orjson.dumps([e.seq, e.type, e.run_id, e.thread_id, e.created_at])
        + b"\t"
        + e.frame.encode()
        for e in events
    )


def decode_events(user_id: str, data: bytes) -> list[StoredEvent]:
    events = []
    for line in data.split(b"\n"):
        head, _, frame = line.partition(b"\t")
        seq, kind, run_id, thread_id, created_at = orjson.loads(head)
        events.append(
            StoredEvent(user_id, seq, kind, run_id, thread_id, frame.decode(), created_at)
        )
    return events


def group_by_user(events: Sequence[StoredEvent]) -> dict[str, list[StoredEvent]]:
    by_user: dict[str, list[StoredEvent]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(event)
    return by_user
