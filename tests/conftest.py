"""Fixtures: a running server on loopback, a SQLite storage, the server's log
records, and the virtual clock.

``autojump_clock`` here jumps only after 10 ms of real idleness: with the
default threshold of 0, virtual time would leap forward whenever every task
waits on a worker thread (a SQLite call), and timings would drift.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from netra_trio.logs import LOGGER_NAME
from netra_trio.server.app import Server
from netra_trio.storage.sqlite import SqliteStorage
from tests.databases import ServerDatabase
from tests.helpers import start_server
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs pytest as users do


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    srv = await start_server(nursery)
    yield srv
    srv.request_shutdown()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    """A SQLite storage in the test's temporary directory (tests/storage has
    its own, on each backend)."""
    opened = await SqliteStorage.open(tmp_path / "netra.db")
    yield opened
    await opened.close()


@pytest.fixture
def netra_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the ``netra_trio`` logger, down to DEBUG, also when an
    earlier in-process CLI run turned propagation off."""
    logger = logging.getLogger(LOGGER_NAME)
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    attached = not logger.propagate
    if attached:
        logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        if attached:
            logger.removeHandler(caplog.handler)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.01)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This test session's own redis-server (started on first use)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of this session's redis-server, running and emptied for the test."""
    if not redis_server.running:
        redis_server.start()
    assert redis_server.command("FLUSHALL") == b"+OK"
    return redis_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This test session's own PostgreSQL cluster (made on first use, removed
    when the session ends)."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on this session's PostgreSQL, running."""
    if not postgres_server.running:
        postgres_server.start()
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> ServerDatabase:
    """The test runs once on a SQLite file and once on a PostgreSQL database."""
    if request.param == "sqlite":
        return ServerDatabase("sqlite", str(tmp_path / "netra.db"), tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return ServerDatabase("postgresql", url, tmp_path)
