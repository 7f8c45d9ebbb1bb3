"""Sessions over loopback: new and resumed sessions, merged data, sharing, and another user's id."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.helpers import token_for
from tests.sessions.support import (
    assert_alive,
    connect,
    error_body,
    log_events,
    rejection,
    rendered_logs,
    running_server,
    session_ids,
    session_state,
    session_url,
)


async def test_new_connection_gets_a_new_session(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db)) as server:
        async with connect(server.url, "alice") as first:
            established = first.established
            assert isinstance(established["session_id"], str) and established["session_id"]
            assert established["resumed"] is False
            assert established["user_id"] == "alice"
            state = await session_state(first, "session_get")
            assert state == {"session_id": established["session_id"], "data": {}}
        async with connect(server.url, "alice") as second:
            assert second.established["resumed"] is False
            assert second.established["session_id"] != established["session_id"]
        assert await session_ids(db, "alice") == {
            established["session_id"],
            second.established["session_id"],
        }


async def test_resume_as_the_same_user_gives_back_the_merged_data(tmp_path: Path) -> None:
    async with running_server(database=str(tmp_path / "sessions.db")) as server:
        async with connect(server.url, "alice") as client:
            session_id = client.established["session_id"]
            state = await session_state(
                client, "session_update", {"data": {"a": 1, "b": {"x": 1}, "keep": "me"}}
            )
            assert state == {
                "session_id": session_id,
                "data": {"a": 1, "b": {"x": 1}, "keep": "me"},
            }
            # Top-level keys merge; a later value wins, and a nested object is replaced whole.
            state = await session_state(
                client, "session_update", {"data": {"a": 2, "b": {"y": 2}, "c": [3]}}
            )
            merged = {"a": 2, "b": {"y": 2}, "keep": "me", "c": [3]}
            assert state == {"session_id": session_id, "data": merged}
            assert await session_state(client, "session_get") == state
        async with connect(server.url, "alice", session_id=session_id) as again:
            assert again.established["session_id"] == session_id
            assert again.established["resumed"] is True
            assert await session_state(again, "session_get") == {
                "session_id": session_id,
                "data": merged,
            }
            state = await session_state(again, "session_update", {"data": {"a": 3}})
            assert state["data"] == {**merged, "a": 3}


async def test_unknown_session_id_starts_a_new_session(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db)) as server:
        async with connect(server.url, "alice", session_id="no-such-session") as client:
            assert client.established["resumed"] is False
            session_id = client.established["session_id"]
            assert session_id != "no-such-session"
            assert await session_state(client, "session_get") == {
                "session_id": session_id,
                "data": {},
            }
        assert await session_ids(db, "alice") == {session_id}


async def test_two_connections_share_one_session(tmp_path: Path) -> None:
    async with (
        running_server(database=str(tmp_path / "sessions.db")) as server,
        connect(server.url, "alice") as first,
    ):
        session_id = first.established["session_id"]
        async with connect(server.url, "alice", session_id=session_id) as second:
            assert second.established["session_id"] == session_id
            assert second.established["resumed"] is True
            assert second.established["connection_id"] != first.established["connection_id"]
            await session_state(first, "session_update", {"data": {"from": "first"}})
            state = await session_state(second, "session_get")
            assert state == {"session_id": session_id, "data": {"from": "first"}}
            await session_state(second, "session_update", {"data": {"also": "second"}})
            state = await session_state(first, "session_get")
            assert state["data"] == {"from": "first", "also": "second"}
        # The first connection still holds the session after the second left.
        await assert_alive(first)
        state = await session_state(first, "session_get")
        assert state["data"] == {"from": "first", "also": "second"}


async def test_another_users_session_is_refused_with_403(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "sessions.db"
    thief_token = token_for("mallory")
    async with running_server(database=str(db)) as server:
        async with connect(server.url, "alice") as owner:
            session_id = owner.established["session_id"]
            await session_state(owner, "session_update", {"data": {"card": "alice-only"}})
            # While the owner is connected ...
            rejected = await rejection(session_url(server.url, session_id), thief_token)
            error = error_body(rejected, 403, "FORBIDDEN")
            assert "alice-only" not in error["message"]
            await assert_alive(owner)
        # ... and after the owner left.
        rejected = await rejection(session_url(server.url, session_id), thief_token)
        error_body(rejected, 403, "FORBIDDEN")
        assert rejected.body is not None and b"alice-only" not in rejected.body

        # The refusal neither took nor damaged the session: the owner resumes it intact.
        async with connect(server.url, "alice", session_id=session_id) as owner:
            assert owner.established["resumed"] is True
            state = await session_state(owner, "session_get")
            assert state["data"] == {"card": "alice-only"}
        # No session was created for the refused user.
        assert await session_ids(db, "mallory") == set()

    violations = log_events(netra_logs.records, "security_violation")
    assert len(violations) == 2, violations
    assert all(v["user"] == "mallory" for v in violations), violations
    records = [
        r for r in netra_logs.records if getattr(r, "netra_event", None) == "security_violation"
    ]
    assert all(r.levelno >= logging.WARNING for r in records)
    rejected_logs = log_events(netra_logs.records, "handshake_rejected")
    assert [r["status"] for r in rejected_logs] == [403, 403]
    everything = rendered_logs(netra_logs.records)
    assert thief_token not in everything
    assert thief_token.split(".")[2] not in everything  # not even the signature
