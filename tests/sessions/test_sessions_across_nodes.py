"""Two nodes' session services on one store, each knowing only its own
connections: a session resumed on one node as the other node's expiry
deletes it is either kept (resumed before the deletion: the expiry deletes
only what is still idle) or not resumed (deleted first: a new session). The
store is real SQLite; a gate in front of it holds one call until the test
lets it go (``tests/gated_store.py``), to put the two nodes' calls in each order."""

from __future__ import annotations

import trio

from netra_trio.core.sessions import SessionPolicy
from netra_trio.server.sessions import SessionCipher, SessionService
from netra_trio.storage.sqlite import SqliteStorage
from tests.gated_store import Gate, GatedStore

IDLE_S = 600.0
CIPHER = SessionCipher(bytes(32))
POLICY = SessionPolicy(idle_timeout_s=IDLE_S)


async def _idle_session(storage: SqliteStorage, last_active: float) -> str:
    """A session of alice's made at ``last_active`` and left idle."""
    made = SessionService(storage.sessions, CIPHER, POLICY, lambda: last_active)
    session_id, _ = await made.open("alice", None)
    await made.detach(session_id)
    return session_id


async def test_a_session_resumed_while_another_node_expires_it_is_kept(
    storage: SqliteStorage,
) -> None:
    session_id = await _idle_session(storage, 1000.0)
    gate = Gate()
    expiring = SessionService(
        GatedStore(storage.sessions, delete_sessions=gate),
        CIPHER,
        POLICY,
        lambda: 1000.0 + IDLE_S + 1,
    )
    resuming = SessionService(storage.sessions, CIPHER, POLICY, lambda: 1000.0 + IDLE_S - 1)
    async with trio.open_nursery() as nursery:
        await nursery.start(expiring.run)
        with trio.fail_after(5):
            await gate.reached.wait()  # the expiry read it as idle and is deleting it
            assert await resuming.open("alice", session_id) == (session_id, True)
            gate.go.set()
            await gate.done.wait()
        nursery.cancel_scope.cancel()
    kept = await storage.sessions.get_session(session_id)
    assert kept is not None and kept.last_active == 1000.0 + IDLE_S - 1


async def test_a_session_another_node_deleted_during_its_resume_is_not_resumed(
    storage: SqliteStorage,
) -> None:
    session_id = await _idle_session(storage, 1000.0)
    gate = Gate()
    resuming = SessionService(
        GatedStore(storage.sessions, touch_sessions=gate), CIPHER, POLICY, lambda: 1000.0 + 10
    )
    opened: list[tuple[str, bool]] = []

    async def resume() -> None:
        opened.append(await resuming.open("alice", session_id))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(resume)
        with trio.fail_after(5):
            await gate.reached.wait()  # read, not yet marked active
            await storage.sessions.delete_sessions([session_id])  # the other node's expiry
            gate.go.set()
    ((new_id, resumed),) = opened
    assert not resumed and new_id != session_id
    assert await storage.sessions.get_session(session_id) is None
    assert await storage.sessions.get_session(new_id) is not None
    assert resuming.attached == {new_id: 1}
