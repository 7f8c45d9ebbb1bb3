"""Session data at rest: sealed in the SQLite file, readable again only with the same key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers import SESSION_KEY
from tests.sessions.support import (
    assert_alive,
    connect,
    log_events,
    new_session_key,
    query,
    raw_database_bytes,
    running_server,
    session_state,
)

SECRET_NOTE = "purple-elephant-42"
USER = "enc-user-7f3a"


async def _store_secret(url: str) -> str:
    async with connect(url, USER) as client:
        session_id: str = client.established["session_id"]
        state = await session_state(
            client, "session_update", {"data": {"secret_note": SECRET_NOTE}}
        )
        assert state["data"] == {"secret_note": SECRET_NOTE}
        return session_id


async def test_session_data_is_not_stored_in_plaintext(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db), session_key=SESSION_KEY) as server:
        session_id = await _store_secret(server.url)
        # While the server runs, the update sits in the write-ahead log or the file.
        raw = await raw_database_bytes(db)
        assert USER.encode() in raw  # the read sees the session row (stored in clear) ...
        assert SECRET_NOTE.encode() not in raw  # ... but not its data
        assert b"secret_note" not in raw
    # After the server stopped (the log checkpointed into the file): still sealed.
    raw = await raw_database_bytes(db)
    assert USER.encode() in raw
    assert SECRET_NOTE.encode() not in raw
    ((user_id, nonce, data),) = await query(
        db, "SELECT user_id, nonce, data FROM sessions WHERE session_id = ?", (session_id,)
    )
    assert user_id == USER
    assert isinstance(nonce, bytes) and len(nonce) == 12
    assert isinstance(data, bytes) and SECRET_NOTE.encode() not in data
    assert len(data) >= len(f'{{"secret_note":"{SECRET_NOTE}"}}') + 16  # ciphertext + GCM tag


async def test_each_update_is_sealed_with_a_fresh_nonce(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with (
        running_server(database=str(db), session_key=SESSION_KEY) as server,
        connect(server.url, USER) as client,
    ):
        session_id = client.established["session_id"]
        sealed = []
        for _ in range(2):  # the same data twice
            await session_state(client, "session_update", {"data": {"n": SECRET_NOTE}})
            sealed.append(
                await query(
                    db, "SELECT nonce, data FROM sessions WHERE session_id = ?", (session_id,)
                )
            )
    (first,), (second,) = sealed
    assert first[0] != second[0]
    assert first[1] != second[1]


async def test_data_survives_a_restart_with_the_same_key(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db), session_key=SESSION_KEY) as server:
        session_id = await _store_secret(server.url)
    async with (
        running_server(database=str(db), session_key=SESSION_KEY) as server,
        connect(server.url, USER, session_id=session_id) as client,
    ):
        assert client.established["session_id"] == session_id
        assert client.established["resumed"] is True
        state = await session_state(client, "session_get")
        assert state == {"session_id": session_id, "data": {"secret_note": SECRET_NOTE}}


async def test_a_different_key_after_restart_cannot_open_the_session(
    tmp_path: Path, netra_logs: pytest.LogCaptureFixture
) -> None:
    """A session whose data the current key cannot open is not resumed: like an
    unknown id, it starts a new session (``resumed: false``), and the unreadable
    row is deleted. The data is never revealed."""
    db = tmp_path / "sessions.db"
    async with running_server(database=str(db), session_key=SESSION_KEY) as server:
        session_id = await _store_secret(server.url)
    other_key = new_session_key()
    assert other_key != SESSION_KEY
    async with (
        running_server(database=str(db), session_key=other_key) as server,
        connect(server.url, USER, session_id=session_id) as client,
    ):
        assert client.established["resumed"] is False
        assert client.established["session_id"] != session_id
        state = await session_state(client, "session_get")
        assert state["data"] == {}
        await assert_alive(client)
    with sqlite3.connect(db) as raw:
        ids = [row[0] for row in raw.execute("SELECT session_id FROM sessions")]
    assert session_id not in ids  # deleted, not kept unreadable
    assert SECRET_NOTE not in "\n".join(r.getMessage() for r in netra_logs.records)
    assert log_events(netra_logs.records, "session_unreadable")
