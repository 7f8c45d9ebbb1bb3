"""Session expiry (rows deleted from the file) and the per-user session limit."""

from __future__ import annotations

from pathlib import Path

import trio

from netra_trio.server.app import Server
from tests.sessions.support import (
    WAIT_S,
    assert_alive,
    connect,
    eventually_true,
    frames_until_closed,
    query,
    running_server,
    session_ids,
    session_state,
)

SHORT_IDLE = {
    "idle_timeout_s": 1.0,
    # Valid heartbeat settings for a short idle timeout: timeout <= 4 x interval.
    "heartbeat_interval_s": 0.5,
    "heartbeat_timeout_s": 2.0,
}


async def _row_exists(db: Path, session_id: str) -> bool:
    rows = await query(db, "SELECT 1 FROM sessions WHERE session_id = ?", (session_id,))
    return bool(rows)


async def test_idle_session_is_deleted_from_the_file_and_not_resumable(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db), **SHORT_IDLE) as server:
        async with connect(server.url, "alice") as client:
            session_id = client.established["session_id"]
            assert client.established["limits"]["idle_timeout_s"] == 1.0
            await session_state(client, "session_update", {"data": {"draft": "x"}})
        assert await _row_exists(db, session_id)
        left_at = trio.current_time()

        async def gone() -> bool:
            return not await _row_exists(db, session_id)

        # Deleted by the server's own expiry, before anyone asks for it again.
        await eventually_true(gone, "the expired session's row was deleted", timeout_s=5.0)
        assert trio.current_time() - left_at >= 0.9  # not before its idle time had passed

        async with connect(server.url, "alice", session_id=session_id) as client:
            assert client.established["resumed"] is False
            new_id = client.established["session_id"]
            assert new_id != session_id
            state = await session_state(client, "session_get")
            assert state == {"session_id": new_id, "data": {}}
        assert not await _row_exists(db, session_id)


async def test_a_session_with_a_connection_does_not_expire(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    # 1.5 s rather than 1 s: see test_an_active_connection_outlives_a_short_idle_timeout.
    config = {**SHORT_IDLE, "idle_timeout_s": 1.5}
    async with (
        running_server(database=str(db), **config) as server,
        connect(server.url, "alice") as holder,
    ):
        session_id = holder.established["session_id"]
        await session_state(holder, "session_update", {"data": {"kept": True}})
        # Two idle timeouts pass; the connection stays active with pings.
        for _ in range(9):
            await trio.sleep(0.35)
            await assert_alive(holder)
        assert await _row_exists(db, session_id)
        async with connect(server.url, "alice", session_id=session_id) as second:
            assert second.established["resumed"] is True
            state = await session_state(second, "session_get")
            assert state["data"] == {"kept": True}


async def test_an_active_connection_outlives_a_short_idle_timeout(tmp_path: Path) -> None:
    """With idle_timeout_s=1 a client that sends a frame every 0.3 s stays connected;
    once it falls silent it is closed for idleness (4001), and its session then expires."""
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db), **SHORT_IDLE) as server:
        async with connect(server.url, "alice") as client:
            session_id = client.established["session_id"]
            for _ in range(8):
                await trio.sleep(0.3)
                await assert_alive(client)
            code, frames = await frames_until_closed(client)
        assert (code, frames) == (4001, [])

        async def gone() -> bool:
            return not await _row_exists(db, session_id)

        await eventually_true(gone, "the session expired after its last connection", timeout_s=5.0)


async def test_a_connection_silent_after_one_frame_is_closed_with_4001(tmp_path: Path) -> None:
    """Idle expiry closes with 4001 also when the client's last frame came shortly after
    connecting (so the idle deadline had not been moved for it)."""
    async with (
        running_server(database=str(tmp_path / "sessions.db"), **SHORT_IDLE) as server,
        connect(server.url, "alice") as client,
    ):
        await trio.sleep(0.4)
        await assert_alive(client)
        code, frames = await frames_until_closed(client)
    assert (code, frames) == (4001, [])


async def test_sixth_session_expires_the_oldest_idle_one(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with (
        running_server(database=str(db), max_sessions_per_user=5) as server,
        connect(server.url, "alice") as attached,
    ):
        # The oldest session stays attached all along: it is never a victim.
        oldest = attached.established["session_id"]
        idle: list[str] = []
        for _ in range(4):
            async with connect(server.url, "alice") as client:
                idle.append(client.established["session_id"])
            await _all_detached_but(server, {oldest})  # idle from now: in creation order
        async with connect(server.url, "bob") as other:
            bobs = other.established["session_id"]
        assert await session_ids(db, "alice") == {oldest, *idle}

        async with connect(server.url, "alice") as sixth:
            newest = sixth.established["session_id"]
            assert sixth.established["resumed"] is False
        # The oldest idle one (idle[0]) went; the attached one and the others stay.
        assert await session_ids(db, "alice") == {oldest, *idle[1:], newest}
        assert await session_ids(db, "bob") == {bobs}  # another user's count is separate
        await _all_detached_but(server, {oldest})

        async with connect(server.url, "alice") as seventh:
            latest = seventh.established["session_id"]
        assert await session_ids(db, "alice") == {oldest, *idle[2:], newest, latest}

        async with connect(server.url, "alice", session_id=idle[0]) as client:
            assert client.established["resumed"] is False  # it is gone
        await _all_detached_but(server, {oldest})
        assert len(await session_ids(db, "alice")) == 5


async def _all_detached_but(server: Server, keep: set[str]) -> None:
    sessions = server.hub.services.sessions
    with trio.fail_after(WAIT_S):
        while set(sessions.attached) != keep:  # noqa: ASYNC110 - server state, no event
            await trio.sleep(0.01)
