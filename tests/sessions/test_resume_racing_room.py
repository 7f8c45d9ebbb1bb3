"""A session being resumed is claimed before it is read: a new session of the
same user that needs room meanwhile makes it with another idle session, never
with the one a connection is about to attach to (on a real SQLite store)."""

from __future__ import annotations

import trio

from netra_trio.core.sessions import SessionPolicy
from netra_trio.server.sessions import SessionCipher, SessionService
from netra_trio.storage.sqlite import SqliteStorage
from tests.gated_store import Gate, GatedStore


async def test_a_new_session_never_makes_room_with_one_being_resumed(
    storage: SqliteStorage,
) -> None:
    clock = [1000.0]
    cipher, policy = SessionCipher(bytes(32)), SessionPolicy(idle_timeout_s=600, max_per_user=2)
    made = SessionService(storage.sessions, cipher, policy, lambda: clock[0])
    oldest, _ = await made.open("alice", None)
    await made.detach(oldest)  # idle from 1000
    clock[0] += 1
    newer, _ = await made.open("alice", None)
    await made.detach(newer)  # idle from 1001: the oldest goes first when room is needed
    clock[0] += 1

    # the new session has read the user's sessions; the resume is about to read its own
    listed, read = Gate(after=True), Gate()
    sessions = SessionService(
        GatedStore(storage.sessions, user_sessions=listed, get_session=read),
        cipher,
        policy,
        lambda: clock[0],
    )
    opened: dict[str, tuple[str, bool]] = {}

    async def open_as(name: str, requested: str | None) -> None:
        opened[name] = await sessions.open("alice", requested)

    async with trio.open_nursery() as nursery:
        with trio.fail_after(5):
            nursery.start_soon(open_as, "fresh", None)
            await listed.reached.wait()
            nursery.start_soon(open_as, "resuming", oldest)
            await read.reached.wait()
            listed.go.set()  # the new session makes room now, while the resume reads
            await listed.done.wait()
            read.go.set()

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
