"""Session expiry (rows deleted from the file) and the per-user session limit."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from netra_trio.errors import CloseCode
from netra_trio.server.app import Server
from netra_trio.server.hub import Hub
from tests.server.harness import open_raw, running_hub, wait_until
from tests.sessions.support import WAIT_S, connect, running_server, session_ids

IDLE_S = 600.0


async def _expires_on_time(hub: Hub, session_id: str, idle_from: float) -> None:
    """The session's row is there a second before its idle time has passed
    since ``idle_from``, and deleted (by the server's own expiry) a second after."""
    store = hub.services.storage.sessions
    await trio.sleep_until(idle_from + IDLE_S - 1)
    assert await store.get_session(session_id) is not None
    await trio.sleep_until(idle_from + IDLE_S + 1)
    assert await store.get_session(session_id) is None


async def test_idle_session_is_deleted_and_not_resumable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(idle_timeout_s=IDLE_S) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        session_id = client.established["session_id"]
        assert client.established["limits"]["idle_timeout_s"] == IDLE_S
        await client.request("session_update", {"data": {"draft": "x"}})
        await client.close()
        await wait_until(lambda: session_id not in hub.services.sessions.attached, interval_s=0.01)
        await _expires_on_time(hub, session_id, trio.current_time())

        again = await open_raw(
            hub, nursery, "alice", pump=True, target=f"/ws?session_id={session_id}"
        )
        assert again.established["resumed"] is False
        new_id = again.established["session_id"]
        assert new_id != session_id
        state = await again.request("session_get")
        assert state["payload"] == {"session_id": new_id, "data": {}}


async def test_a_session_with_a_connection_does_not_expire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(idle_timeout_s=IDLE_S) as (hub, nursery):
        holder = await open_raw(hub, nursery, "alice", pump=True)
        session_id = holder.established["session_id"]
        await holder.request("session_update", {"data": {"kept": True}})
        # Three idle timeouts pass; the connection stays active with pings.
        for _ in range(9):
            await trio.sleep(IDLE_S / 3)
            assert (await holder.request("ping"))["type"] == "pong"
        assert await hub.services.storage.sessions.get_session(session_id) is not None
        second = await open_raw(
            hub, nursery, "alice", pump=True, target=f"/ws?session_id={session_id}"
        )
        assert second.established["resumed"] is True
        assert (await second.request("session_get"))["payload"]["data"] == {"kept": True}


async def test_an_active_connection_outlives_the_idle_timeout_then_expires_when_silent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A client that sends a frame every half idle timeout stays connected; once it
    falls silent it is closed for idleness (4001), and its session then expires."""
    async with running_hub(idle_timeout_s=IDLE_S) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        session_id = client.established["session_id"]
        for _ in range(8):
            await trio.sleep(IDLE_S / 2)
            assert (await client.request("ping"))["type"] == "pong"
        silent_from = trio.current_time()
        close, frames = await client.frames_until_close()
        assert (close.code, frames) == (CloseCode.SESSION_EXPIRED, [])
        assert IDLE_S <= trio.current_time() - silent_from < IDLE_S + 2
        await _expires_on_time(hub, session_id, trio.current_time())


async def test_a_connection_silent_after_one_frame_is_closed_with_4001(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Idle expiry closes with 4001 also when the client's last frame came shortly after
    connecting (so the idle deadline had not been moved for it)."""
    async with running_hub(idle_timeout_s=IDLE_S) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        await trio.sleep(0.4)
        assert (await client.request("ping"))["type"] == "pong"
        close, frames = await client.frames_until_close()
        assert (close.code, frames) == (CloseCode.SESSION_EXPIRED, [])


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
