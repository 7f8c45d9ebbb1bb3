"""Sessions at their edges: data past its bound, a wall clock that jumps past a
session's idle deadline, a server without a session key, and storage failing
when a session goes idle or expires.

Shell tier: the hub's services over an in-memory database (or a SQLite file,
when storage has to fail), with a raw client; session expiry runs on trio's
virtual clock unless the test needs a wall clock of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from netra_trio.agents.registry import default_agents
from netra_trio.auth import Authenticator
from netra_trio.handlers import default_router
from netra_trio.server.hub import Hub
from netra_trio.server.sessions import MAX_SESSION_DATA_BYTES, SessionCipher
from netra_trio.server.startup import running_services
from tests.helpers import SECRET, DatabaseWriteLock, logged_fields, make_config
from tests.server.harness import RawClient, open_raw, running_hub, wait_until


def test_a_session_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SessionCipher(b"\0" * 16)
    SessionCipher(b"\0" * 32)


async def test_session_data_past_its_bound_is_refused_and_the_data_kept() -> None:
    """Each update merges into the stored data; the one that would take it past
    ``MAX_SESSION_DATA_BYTES`` is refused naming the field, and nothing of it
    is stored."""
    part = "x" * (MAX_SESSION_DATA_BYTES // 2)
    async with running_hub(max_message_bytes=MAX_SESSION_DATA_BYTES) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        first = await client.request("session_update", {"data": {"a": part}})
        assert first["type"] == "session_state" and first["payload"]["data"] == {"a": part}
        refused = await client.request("session_update", {"data": {"b": part}})
        assert refused["type"] == "error"
        assert refused["payload"]["code"] == "INVALID_MESSAGE"
        assert refused["payload"]["message"] == (
            f"payload.data: session data would exceed {MAX_SESSION_DATA_BYTES} bytes"
        )
        kept = await client.request("session_get")
        assert kept["payload"]["data"] == {"a": part}
        # a smaller update still fits, and replaces a key in place
        assert (await client.request("session_update", {"data": {"a": 1}}))["payload"]["data"] == {
            "a": 1
        }
        await client.close()


@asynccontextmanager
async def hub_on_wall_clock(
    clock: list[float], **overrides: Any
) -> AsyncIterator[tuple[Hub, trio.Nursery]]:
    """The hub's services with the sessions on a wall clock the test sets."""
    async with running_services(
        make_config(**overrides),
        agents=default_agents(),
        router=default_router(),
        authenticator=Authenticator(secret=SECRET),
        clock=lambda: clock[0],
    ) as runtime:
        yield runtime.hub, runtime.hub_nursery


async def test_a_session_requested_after_the_wall_clock_passed_its_deadline_is_not_resumed(
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    """The expiry task sleeps on the monotonic clock; when the wall clock jumps
    forward (a VM resumed, the clock corrected), a session past its idle
    deadline may still be stored when its client comes back: it is deleted
    then, and the client gets a new one."""
    wall = [1_000_000.0]
    async with hub_on_wall_clock(wall, idle_timeout_s=60) as (hub, nursery):
        first = await open_raw(hub, nursery, "alice")
        old = first.established["session_id"]
        await first.request("session_update", {"data": {"draft": "kept until expiry"}})
        await first.close()
        await wait_until(lambda: hub.services.sessions.attached == {}, interval_s=0.01)
        wall[0] += 3600  # an hour later by the wall clock, at once by trio's
        again = await open_raw(hub, nursery, "alice", target=f"/ws?session_id={old}")
        assert again.established["resumed"] is False
        assert again.established["session_id"] != old
        assert await hub.services.storage.sessions.get_session(old) is None
        assert (await again.request("session_get"))["payload"]["data"] == {}
        assert hub.services.sessions.expired == 1
        assert logged_fields(netra_logs, "sessions_expired") == [{"count": 1, "reason": "expired"}]
        # a session within its deadline is resumed as before
        current = again.established["session_id"]
        await again.close()
        await wait_until(lambda: hub.services.sessions.attached == {}, interval_s=0.01)
        wall[0] += 30
        resumed = await open_raw(hub, nursery, "alice", target=f"/ws?session_id={current}")
        assert resumed.established["resumed"] is True
        await resumed.close()


async def test_without_a_session_key_sessions_do_not_survive_a_restart(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> None:
    database = str(tmp_path / "netra.db")
    async with running_hub(database=database, session_key=None) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        session_id = client.established["session_id"]
        await client.request("session_update", {"data": {"theme": "dark"}})
        await client.close()
    async with running_hub(database=database, session_key=None) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", target=f"/ws?session_id={session_id}")
        assert client.established["resumed"] is False  # sealed with the last run's key
        assert (await client.request("session_get"))["payload"]["data"] == {}
        assert await hub.services.storage.sessions.get_session(session_id) is None
        await client.close()
    warnings = [r for r in netra_logs.records if r.getMessage() == "session_key_ephemeral"]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    assert "will not survive a restart" in warnings[0].netra_fields["hint"]  # type: ignore[attr-defined]
    assert logged_fields(netra_logs, "session_unreadable") == [{"user": "alice"}]


async def close_while_storage_fails(client: RawClient, database: Path) -> None:
    """Close ``client`` while storage fails: the session's detach cannot be stored."""
    async with trio.open_nursery() as nursery:
        with DatabaseWriteLock(database):
            nursery.start_soon(client.close)
            await trio.to_thread.run_sync(time.sleep, 0.3)


async def test_storage_failing_when_a_session_expires_does_not_stop_the_server(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, netra_logs: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "netra.db"
    async with running_hub(
        database=str(database), database_busy_timeout_s=0.05, idle_timeout_s=60
    ) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        await client.close()
        await trio.sleep(55)
        with DatabaseWriteLock(database):  # the idle deadline (60 s) passes while storage fails
            await wait_until(lambda: bool(logged_fields(netra_logs, "session_expiry_error")))
        assert hub.services.sessions.expired == 0
        # storage is back: a later try deletes the session. (Waited for, not slept
        # past: the virtual clock moves on while the delete is on the storage thread.)
        await wait_until(lambda: bool(logged_fields(netra_logs, "sessions_expired")))
        assert hub.services.sessions.expired == 1
        assert logged_fields(netra_logs, "sessions_expired") == [
            {"count": 1, "reason": "idle timeout"}
        ]
        assert await hub.services.storage.sessions.user_sessions("alice") == []
        again = await open_raw(hub, nursery, "alice")
        await again.close()


async def test_a_session_whose_detach_could_not_be_stored_still_expires(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, netra_logs: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "netra.db"
    async with running_hub(
        database=str(database), database_busy_timeout_s=0.05, idle_timeout_s=60
    ) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice")
        await close_while_storage_fails(client, database)
        assert [f["user"] for f in logged_fields(netra_logs, "storage_error")] == ["alice"]
        await trio.sleep(600)  # ten idle timeouts, storage working
        assert await hub.services.storage.sessions.user_sessions("alice") == []
