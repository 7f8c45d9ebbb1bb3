"""Which backend ``--database`` names: a path or ``sqlite:///PATH`` is a SQLite
file, ``postgresql://`` (or ``postgres://``) PostgreSQL, anything else with a
scheme is refused at configuration, without echoing a password; a PostgreSQL
that cannot be reached stops `serve` with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from netra_trio.config import Config
from netra_trio.errors import ConfigError
from netra_trio.storage.opening import database_kind, open_storage
from netra_trio.storage.postgres import PostgresStorage
from netra_trio.storage.sqlite import SqliteStorage
from tests.redis_server import free_port
from tests.test_cli import run_cli


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("netra.db", "sqlite"),
        ("/var/lib/netra/netra.db", "sqlite"),
        (":memory:", "sqlite"),
        ("sqlite:///netra.db", "sqlite"),
        ("sqlite:////var/lib/netra.db", "sqlite"),
        ("postgresql://netra:pw@db:5432/netra", "postgresql"),
        ("postgres://db/netra", "postgresql"),
    ],
)
def test_the_kind_follows_the_value(value: str, kind: str) -> None:
    assert database_kind(value) == kind
    assert Config(database=value).database == value


@pytest.mark.parametrize(
    "value", ["mysql://netra:hunter2@db/netra", "sqlite://", "redis://db:6379/0"]
)
def test_another_scheme_is_refused_without_its_password(value: str) -> None:
    with pytest.raises(ConfigError, match="postgresql://USER:PASS@HOST:PORT/DB") as refused:
        Config(database=value)
    assert "hunter2" not in str(refused.value)
    assert "hunter2" not in repr(Config(database="postgresql://netra:hunter2@db/netra"))


async def test_sqlite_url_opens_the_file_at_its_path(tmp_path: Path) -> None:
    path = tmp_path / "by-url.db"
    storage = await open_storage(f"sqlite:///{path}")
    try:
        assert isinstance(storage, SqliteStorage)
        await storage.threads.create_thread("alice", "kept")
    finally:
        await storage.close()
    assert path.exists()
    again = await open_storage(str(path))
    try:
        assert [t.title for t in await again.threads.list_threads("alice")] == ["kept"]
    finally:
        await again.close()


async def test_a_postgresql_url_opens_postgresql(postgres_url: str) -> None:
    storage = await open_storage(postgres_url)
    try:
        assert isinstance(storage, PostgresStorage)
        await storage.ping()
    finally:
        await storage.close()


def test_serve_exits_naming_a_postgresql_it_cannot_reach(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://netra:hunter2@127.0.0.1:{port}/netra"
    result = run_cli("serve", "--port", "0", "--database", url, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"PostgreSQL at 127.0.0.1:{port}/netra is unavailable" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
