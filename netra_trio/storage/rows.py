"""Records as rows and rows as records, the same for every backend: the
columns, in the order every schema lists them, and the values that go in them
(a run's agents as a JSON list)."""

from __future__ import annotations

import json
from typing import Any

from netra_trio.storage.records import MessageRecord, RunRecord, SessionRecord, ThreadRecord

# The columns an INSERT names, in the order of the values below.
RUN_INSERT_COLUMNS = "run_id, user_id, thread_id, agent, status, agents, started_at"
MESSAGE_INSERT_COLUMNS = "message_id, thread_id, role, content, run_id, created_at"
# The columns a SELECT reads, in the order the records take them.
RUN_COLUMNS = "run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code"
SESSION_COLUMNS = "session_id, user_id, created_at, last_active, nonce, data"


def thread_row(thread: ThreadRecord) -> tuple[Any, ...]:
    """Every column of ``threads``, in table order."""
    return (thread.thread_id, thread.user_id, thread.title, thread.created_at, thread.updated_at)


def message_row(message: MessageRecord) -> tuple[Any, ...]:
    """The values of :data:`MESSAGE_INSERT_COLUMNS`."""
    return (
        message.message_id,
        message.thread_id,
        message.role,
        message.content,
        message.run_id,
        message.timestamp,
    )


def run_row(run: RunRecord) -> tuple[Any, ...]:
    """The values of :data:`RUN_INSERT_COLUMNS`."""
    return (
        run.run_id,
        run.user_id,
        run.thread_id,
        run.agent,
        run.status,
        agents_value(run.agents),
        run.started_at,
    )


def agents_value(agents: Any) -> str:
    return json.dumps(list(agents))


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    """A run read through :data:`RUN_COLUMNS`."""
    run_id, user_id, thread_id, agent, status, started_at, ended_at, agents, error_code = row
    return RunRecord(
        run_id,
        user_id,
        thread_id,
        agent,
        status,
        started_at,
        ended_at,
        tuple(json.loads(agents)),
        error_code,
    )


def session_row(session: SessionRecord) -> tuple[Any, ...]:
    """Every column of ``sessions``, in table order (that of :data:`SESSION_COLUMNS`)."""
    return (
        session.session_id,
        session.user_id,
        session.created_at,
        session.last_active,
        session.nonce,
        session.data,
    )
