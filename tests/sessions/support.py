"""Helpers for the sessions tier: servers on a SQLite file, clients, rejections, raw reads."""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trio
from trio_websocket import ConnectionRejected

from netra_trio.client import NetraClient, open_client, open_websocket
from netra_trio.server.app import Server
from tests.e2e.support import Frame as Frame
from tests.e2e.support import error_body as error_body
from tests.e2e.support import events as log_events  # noqa: F401 - this tier's name for it
from tests.e2e.support import frames_until_closed as frames_until_closed
from tests.e2e.support import next_id as next_id
from tests.e2e.support import rendered_logs as rendered_logs
from tests.helpers import start_server, token_for

WAIT_S = 10.0
"""Upper bound on any single wait in this tier."""

STOP_S = 15.0
"""Upper bound on a server's graceful stop."""


def new_session_key() -> str:
    """A fresh 32-byte session key, base64url without padding (as the config takes it)."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@asynccontextmanager
async def running_server(**overrides: Any) -> AsyncIterator[Server]:
    """A real server on a loopback port, stopped gracefully (and waited for) on exit,
    so that a later server may open the same database file."""
    try:
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, **overrides)
            try:
                yield server
            finally:
                server.request_shutdown()
                nursery.cancel_scope.deadline = trio.current_time() + STOP_S
        if nursery.cancel_scope.cancelled_caught:
            pytest.fail(f"the server did not stop within {STOP_S} s")
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def session_url(url: str, session_id: str | None) -> str:
    return url if session_id is None else f"{url}?session_id={quote(session_id, safe='')}"


@asynccontextmanager
async def connect(
    url: str, user: str, *, session_id: str | None = None
) -> AsyncIterator[NetraClient]:
    """A client of ``user`` past ``connection_established`` (in ``client.established``)."""
    async with open_client(
        session_url(url, session_id), token_for(user), connect_timeout_s=WAIT_S
    ) as client:
        yield client


async def request(client: NetraClient, kind: str, payload: Frame | None = None) -> Frame:
    """Send one frame with a fresh message_id; the frame that answers it."""
    return await client.request(kind, payload, message_id=next_id(kind), timeout_s=WAIT_S)


async def session_state(client: NetraClient, kind: str, payload: Frame | None = None) -> Frame:
    """The ``session_state`` payload that answers ``session_update``/``session_get``."""
    reply = await request(client, kind, payload)
    assert reply["type"] == "session_state", reply
    assert set(reply["payload"]) == {"session_id", "data"}, reply
    state: Frame = reply["payload"]
    return state


async def assert_alive(client: NetraClient) -> None:
    marker = next_id("alive")
    reply = await request(client, "ping", {"probe": marker})
    assert reply["type"] == "pong", reply
    assert reply["payload"]["probe"] == marker


async def rejection(url: str, token: str) -> ConnectionRejected:
    """The HTTP rejection of a handshake that must not open a WebSocket."""
    with trio.fail_after(WAIT_S):
        try:
            async with open_websocket(
                url, headers=[(b"Authorization", f"Bearer {token}".encode())]
            ):
                pass
        except ConnectionRejected as rejected:
            return rejected
    pytest.fail(f"the handshake to {url} was accepted")


async def query(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows from the database file, read as another process would: read-only, so
    that nothing (not even a checkpoint) is written to the file."""

    def run() -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return list(conn.execute(sql, tuple(params)).fetchall())

    return await trio.to_thread.run_sync(run)


async def session_ids(db: Path, user: str) -> set[str]:
    rows = await query(db, "SELECT session_id FROM sessions WHERE user_id = ?", (user,))
    return {row[0] for row in rows}


async def raw_database_bytes(db: Path) -> bytes:
    """The bytes of the database file and of its write-ahead log, as they are on disk."""
    data = b""
    for path in (db, db.with_name(db.name + "-wal")):
        if await trio.Path(path).exists():
            data += await trio.Path(path).read_bytes()
    return data


async def eventually_true(
    predicate: Callable[[], Awaitable[bool]], what: str, *, timeout_s: float = WAIT_S
) -> None:
    """Poll an async predicate until it holds (bounded)."""
    with trio.move_on_after(timeout_s):
        while not await predicate():  # noqa: ASYNC110 - polls the file, no event to wait on
            await trio.sleep(0.05)
        return
    pytest.fail(f"not within {timeout_s} s: {what}")
