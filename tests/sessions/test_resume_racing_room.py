"""A session being resumed is claimed before it is read: a new session of the
same user that needs room meanwhile makes it with another idle session, never
with the one a connection is about to attach to (on a real SQLite store)."""

from __future__ import annotations

import trio
import trio.testing

from netra_trio.core.sessions import SessionPolicy
from netra_trio.server.sessions import SessionCipher, SessionService
from netra_trio.storage.sqlite import SqliteStorage


async def test_a_new_session_never_makes_room_with_one_being_resumed(
    storage: SqliteStorage,
) -> None:
    clock = [1000.0]
    sessions = SessionService(
        storage.sessions,
        SessionCipher(bytes(32)),
        SessionPolicy(idle_timeout_s=600, max_per_user=2),
        lambda: clock[0],
    )
    oldest, _ = await sessions.open("alice", None)
    clock[0] += 1
    newer, _ = await sessions.open("alice", None)
    await sessions.detach(oldest)
    await sessions.detach(newer)  # both idle; the oldest goes first when room is needed
    clock[0] += 1

    opened: dict[str, tuple[str, bool]] = {}

    async def open_as(name: str, requested: str | None) -> None:
        opened[name] = await sessions.open("alice", requested)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(open_as, "fresh", None)
        await trio.testing.wait_all_tasks_blocked()  # it reads the user's sessions first
        nursery.start_soon(open_as, "resuming", oldest)  # then the resume reads its own

    assert opened["resuming"] == (oldest, True)
    assert await storage.sessions.get_session(oldest) is not None  # it is still there
    assert await storage.sessions.get_session(newer) is None  # room was made with this one
    assert sessions.attached == {oldest: 1, opened["fresh"][0]: 1}


async def test_a_claim_that_finds_nothing_to_resume_is_given_back(
    storage: SqliteStorage,
) -> None:
    sessions = SessionService(
        storage.sessions, SessionCipher(bytes(32)), SessionPolicy(idle_timeout_s=600)
    )
    session_id, resumed = await sessions.open("alice", "no-such-session")
    assert not resumed
    assert sessions.attached == {session_id: 1}
