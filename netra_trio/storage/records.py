"""The records that the stores keep and return.

Plain attrs classes, one per kind of row, and the functions that make a new
thread or message (its id and time). ``StoredEvent`` is made for every
agent event, so it is a slotted, non-frozen class (a frozen one sets each
field through ``object.__setattr__``, ~3x the cost): treat it as read-only.
"""

from __future__ import annotations

import time
import uuid

import attrs


@attrs.frozen
class ThreadRecord:
    thread_id: str
    user_id: str
    title: str
    created_at: float
    updated_at: float


def new_thread(user_id: str, title: str, thread_id: str | None = None) -> ThreadRecord:
    """A thread made now (its id made up when not given)."""
    now = time.time()
    return ThreadRecord(thread_id or f"t-{uuid.uuid4().hex[:16]}", user_id, title, now, now)


def new_message(
    thread_id: str,
    role: str,
    content: str,
    message_id: str | None = None,
    run_id: str | None = None,
) -> MessageRecord:
    """A message made now (its id made up when not given)."""
    return MessageRecord(
        message_id or f"m-{uuid.uuid4().hex[:16]}", thread_id, role, content, time.time(), run_id
    )


@attrs.frozen
class MessageRecord:
    message_id: str
    thread_id: str
    role: str  # "user" | "assistant"
    content: str
    timestamp: float
    run_id: str | None = None


@attrs.frozen
class RunRecord:
    run_id: str
    user_id: str
    thread_id: str
    agent: str
    status: str  # "running" | "success" | "cancelled" | "error" | "interrupted"
    started_at: float
    ended_at: float | None = None
    agents: tuple[str, ...] = ()
    error_code: str | None = None


@attrs.define
class StoredEvent:
    """One agent event of the log: its user's ``seq`` and its wire frame,
    rendered once, the same bytes for the store and for every connection."""

    user_id: str
    seq: int
    type: str
    run_id: str | None
    thread_id: str | None
    frame: str
    created_at: float


@attrs.frozen
class Retention:
    """How much of each user's event log is kept for replay."""

    max_events: int = 10_000
    max_age_s: float = 86_400.0


@attrs.frozen
class ReplayWindow:
    pruned_through: int  # events up to this seq have left retention
    last_seq: int


@attrs.frozen
class SessionRecord:
    session_id: str
    user_id: str
    created_at: float
    last_active: float
    nonce: bytes  # the session data is sealed (see netra_trio.server.sessions)
    data: bytes
