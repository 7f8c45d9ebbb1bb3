"""Sessions shared with other processes (a cluster): the ones attached here are
marked active every quarter of the idle timeout, so another process's expiry,
which does not know what is attached here, never finds them idle; detached, they
age as before."""

from __future__ import annotations

import secrets
from pathlib import Path

import trio
import trio.testing

from netra_trio.core.sessions import SessionPolicy
from netra_trio.server.sessions import SessionCipher, SessionService
from netra_trio.storage.sqlite import SqliteStorage


async def test_attached_sessions_stay_fresh_for_the_other_processes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    storage = await SqliteStorage.open(tmp_path / "netra.db")
    try:
        cipher = SessionCipher(secrets.token_bytes(32))
        policy = SessionPolicy(idle_timeout_s=60)
        here = SessionService(storage.sessions, cipher, policy, trio.current_time, shared=True)
        there = SessionService(storage.sessions, cipher, policy, trio.current_time, shared=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(here.run)
            await nursery.start(there.run)
            attached, _ = await here.open("alice", None)
            left, _ = await here.open("alice", None)
            await here.detach(left)
            await trio.sleep(10 * 60)  # ten idle timeouts
            assert await storage.sessions.get_session(attached) is not None
            assert await storage.sessions.get_session(left) is None  # expired by one of them
            record = await storage.sessions.get_session(attached)
            assert record is not None and trio.current_time() - record.last_active <= 60 / 4
            nursery.cancel_scope.cancel()
    finally:
        await storage.close()
