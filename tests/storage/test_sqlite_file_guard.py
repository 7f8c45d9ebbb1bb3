"""The SQLite file, guarded: one server per file unless they are one cluster
(a second ``netra-trio serve`` on a file another live process serves exits 1
with one line; a killed holder leaves nothing in the way), damage found at
start and said in one line, and ``/readyz`` 503 once the file the server
writes is deleted or replaced under it."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from pathlib import Path

import orjson
import pytest
import trio

from netra_trio.client import open_client
from tests.helpers import (
    PROJECT_ROOT,
    SECRET,
    SESSION_KEY,
    damage_root_page,
    serve_subprocess,
    start_server,
    store_long_thread,
    token_for,
)
from tests.server.test_http import http_get


def _serve_args(database: Path, *more: str) -> list[str]:
    return [
        "--jwt-secret", SECRET,
        "--session-key", SESSION_KEY,
        "--database", str(database),
        *more,
    ]  # fmt: skip


async def _serve_until_exit(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """``netra-trio serve --port 0 ARGS`` that is expected to exit by itself:
    its exit status, stdout and stderr."""
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-m", "netra_trio", "serve", "--port", "0", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def _serves(url: str) -> None:
    """A client of ``url`` gets its threads and a run to its end."""
    async with open_client(url, token_for("alice")) as client:
        assert (await client.request("list_threads"))["type"] == "threads"
        await client.send("start_agent", {"agent": "triage", "input": "2M requests/day on gpt-4o"})
        assert (await client.receive_type("agent_completed"))["payload"]["status"] == "success"


# -- one server per file ------------------------------------------------------------------


async def test_a_second_server_on_the_same_file_refuses_to_start(tmp_path: Path) -> None:
    database = tmp_path / "netra.db"
    args = _serve_args(database)
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "a.log") as (
        first,
        url,
    ):
        status, out, err = await _serve_until_exit(args, tmp_path)
        assert status == 1, err
        assert out == ""  # it never listened
        (line,) = err.splitlines()
        assert line.startswith(
            f"netra-trio: the database {database} is in use by another netra-trio server"
            f" (pid {first.pid}): "
        )
        assert "--redis-url" in line
        await _serves(url)  # the first one is untouched
        assert (tmp_path / "netra.db.lock").read_text().strip() == str(first.pid)

        # a holder killed with SIGKILL leaves nothing in the way
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        async with serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "b.log") as (
            second,
            url_again,
        ):
            await _serves(url_again)
            assert (tmp_path / "netra.db.lock").read_text().strip() == str(second.pid)


async def test_the_processes_of_a_cluster_share_the_file(tmp_path: Path, redis_url: str) -> None:
    database = tmp_path / "netra.db"
    args = _serve_args(database, "--redis-url", redis_url)
    async with (
        serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "a.log") as (_, url_a),
        serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "b.log") as (_, url_b),
    ):
        await _serves(url_a)
        await _serves(url_b)


# -- damage -------------------------------------------------------------------------------


async def _damaged_database(path: Path, table: str) -> None:
    """A database of a thread with many messages, whose ``table`` has its root
    page overwritten: the schema is intact, the damage is in the middle of the
    file."""
    await store_long_thread(path)
    damage_root_page(path, table)


@pytest.mark.parametrize("table", ["messages", "runs"])
async def test_a_damaged_database_stops_the_start_with_one_line(tmp_path: Path, table: str) -> None:
    database = tmp_path / "netra.db"
    await _damaged_database(database, table)
    status, out, err = await _serve_until_exit(_serve_args(database), tmp_path)
    assert status == 1, err
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"netra-trio: the database {database} is damaged (PRAGMA quick_check: ")
    assert line.endswith(
        "restore it from a backup, or move it away to start with an empty database"
    )


# -- the file deleted or replaced while the server runs ------------------------------------


async def _readiness(port: int) -> tuple[int, list[str]]:
    status, body = await http_get(port, "/readyz")
    return status, orjson.loads(body)["waiting_for"]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_readiness_fails_once_the_file_is_gone(
    nursery: trio.Nursery, tmp_path: Path, how: str
) -> None:
    database = tmp_path / "netra.db"
    server = await start_server(nursery, database=str(database), metrics_port=0)
    assert server.metrics_port
    await _serves(server.url)
    assert await _readiness(server.metrics_port) == (200, [])
    _delete_or_replace(database, how)
    assert await _readiness(server.metrics_port) == (503, ["storage"])
    assert await _readiness(server.metrics_port) == (503, ["storage"])  # (and stays so)
    server.request_shutdown()


def _delete_or_replace(database: Path, how: str) -> None:
    if how == "deleted":
        for path in database.parent.glob(database.name + "*"):
            if not path.name.endswith(".lock"):
                path.unlink()
    else:
        other = database.with_name("other.db")
        sqlite3.connect(other).close()
        other.replace(database)
