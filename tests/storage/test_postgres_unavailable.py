"""PostgreSQL storage when the server cannot be reached: stopped under an open
storage (calls fail at once with DatabaseUnavailable, attempts to connect
again are spaced out, and the same storage serves again once it is back), not
there at open, or named by a URL that cannot be read. Messages name the
server, never its password."""

from __future__ import annotations

import itertools
import socket
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio

from netra_trio.storage.base import DatabaseUnavailable, StorageError
from netra_trio.storage.postgres import PostgresStorage
from netra_trio.storage.postgres.connection import RETRY_FIRST_S
from netra_trio.storage.records import RunRecord, StoredEvent
from tests.postgres_server import PostgresServer
from tests.redis_server import free_port
from tests.storage.postgres_support import PASSWORD, with_password

FAST_S = 1.0  # a call that fails "at once" (nothing waits for a timeout)


def _event(user: str, seq: int) -> StoredEvent:
    return StoredEvent(user, seq, "agent_thinking", None, "t-1", "{}", time.time())


def _check_message(exc: BaseException, names: str) -> None:
    """``exc`` names the server; neither it nor its causes show the password."""
    assert isinstance(exc, StorageError)
    assert names in str(exc)
    assert PASSWORD not in "".join(traceback.format_exception(exc))


async def _fails_fast(call: Callable[[], Awaitable[object]]) -> DatabaseUnavailable:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as failed:
        await call()
    assert time.monotonic() - started < FAST_S
    return failed.value


async def _attempts_while_calls_fail(
    port: int, call: Callable[[], Awaitable[object]], seconds: float
) -> tuple[list[float], list[DatabaseUnavailable]]:
    """Make ``call`` every 10 ms for ``seconds`` while something listens on
    ``port`` and hangs up on every connection: the times it was connected to
    (the storage's attempts), and the calls' errors."""
    attempts: list[float] = []
    failures: list[DatabaseUnavailable] = []
    with trio.socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await listener.bind(("127.0.0.1", port))
        listener.listen(16)

        async def hang_up() -> None:
            while True:
                conn, _ = await listener.accept()
                attempts.append(time.monotonic())
                conn.close()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(hang_up)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                failures.append(await _fails_fast(call))
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    return attempts, failures


async def test_a_stopped_server_fails_calls_at_once_and_the_same_storage_serves_once_back(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    # (one TCP connection per attempt: no SSL or GSS attempt before it)
    url = with_password(postgres_url) + "?sslmode=disable&gssencmode=disable"
    names = f"127.0.0.1:{postgres_server.port}/"
    storage = await PostgresStorage.open(url)
    try:
        await storage.threads.create_thread("alice", "t", thread_id="t-1")
        await storage.events.append([_event("alice", 1)])
        threads, events = storage.threads, storage.events
        run = RunRecord("r-1", "alice", "t-1", "supervisor", "running", time.time())
        postgres_server.stop()
        try:
            # on each connection: the call that finds it lost, then calls that
            # try to connect again, or fail at once until the next attempt
            failures = [
                await _fails_fast(call)
                for call in (
                    storage.ping,
                    partial(threads.get_thread, "t-1"),
                    partial(threads.append_message, "t-1", "user", "lost"),
                    partial(storage.runs.start_run, run),
                    partial(events.events_after, "alice", 0),
                    partial(events.last_seqs, ["alice"]),
                    partial(events.append, [_event("alice", 2)]),
                    partial(events.append, [_event("alice", 2)]),
                )
            ]
            # something else on the server's port counts the attempts to connect
            attempts, more = await _attempts_while_calls_fail(
                postgres_server.port, partial(threads.get_thread, "t-1"), seconds=1.0
            )
        finally:
            postgres_server.start()
        for failure in failures + more:
            _check_message(failure, names)
        # ~100 calls, a few attempts: 0.1 s apart at first, then each pause doubles
        assert len(more) > 50
        assert 2 <= len(attempts) <= 5
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert gaps[0] >= RETRY_FIRST_S * 0.9
        assert all(later >= 1.5 * earlier for earlier, later in itertools.pairwise(gaps))

        # back: the same storage serves again, once its pause is over
        with trio.fail_after(10):
            while True:
                try:
                    await storage.ping()
                    break
                except DatabaseUnavailable:
                    await trio.sleep(0.02)
        thread = await threads.get_thread("t-1")
        assert thread is not None and thread.title == "t"
        await threads.append_message("t-1", "user", "back")
        assert [m.content for m in await threads.thread_messages("t-1")] == ["back"]
        assert await storage.runs.get_run("r-1") is None  # the failed start left nothing
        await events.append([_event("alice", 2)])  # the event log's connection too
        assert [e.seq for e in await events.events_after("alice", 0)] == [1, 2]
        assert await events.last_seqs(["alice"]) == {"alice": 2}
    finally:
        await storage.close()


def _storage_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("netra-trio")}


async def _until_ended(threads: set[threading.Thread]) -> None:
    for thread in threads:
        await trio.to_thread.run_sync(thread.join, 5)
        assert not thread.is_alive()


async def test_an_unreachable_server_at_open_is_a_storage_error_naming_it() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://netra:{PASSWORD}@127.0.0.1:{port}/netra"
    before = _storage_threads()
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as refused:
        await PostgresStorage.open(url)
    assert time.monotonic() - started < FAST_S
    _check_message(refused.value, f"PostgreSQL at 127.0.0.1:{port}/netra is unavailable")
    await _until_ended(_storage_threads() - before)  # nothing of it left running


async def test_a_missing_database_at_open_is_a_storage_error_naming_it(
    postgres_server: PostgresServer,
) -> None:
    url = with_password(postgres_server.url("no_such_database"))
    with pytest.raises(StorageError) as refused:
        await PostgresStorage.open(url)
    _check_message(refused.value, f"127.0.0.1:{postgres_server.port}/no_such_database")
    assert "does not exist" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://netra:{PASSWORD}@[::1/netra",
        f"postgresql://netra:{PASSWORD}@127.0.0.1:5432/netra?no_such_option=1",
        f"postgresql://netra:{PASSWORD}@127.0.0.1:not-a-port/netra",
        f"postgres://netra:{PASSWORD}@127.0.0.1:5432/netra?sslmode=sometimes",
    ],
    ids=["unclosed-ipv6", "unknown-option", "bad-port", "bad-sslmode"],
)
async def test_a_url_that_cannot_be_read_is_a_storage_error_without_its_password(
    url: str,
) -> None:
    before = _storage_threads()
    with pytest.raises(StorageError) as refused:
        await PostgresStorage.open(url)
    _check_message(refused.value, "PostgreSQL")
    await _until_ended(_storage_threads() - before)
