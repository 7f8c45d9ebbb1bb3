"""Shared test helpers: a real server on loopback port 0, tokens, and clients."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jwt
import pytest
import trio

from netra_trio.agents.base import Agent, AgentFailure, AgentRegistry, AgentResult, RunContext
from netra_trio.agents.optimization import optimization_agent
from netra_trio.agents.supervisor import supervisor_agent
from netra_trio.agents.triage import triage_agent
from netra_trio.auth import Authenticator
from netra_trio.config import Config
from netra_trio.server.app import Server
from netra_trio.storage.opening import open_storage

SECRET = "test-secret-0123456789abcdef-0123456789"
SESSION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"  # 32 bytes, base64url
AUTH = Authenticator(secret=SECRET)
GENEROUS_RATES: dict[str, Any] = {
    "message_rate_per_s": 100_000.0,
    "message_burst": 100_000,
    "handshake_rate_per_s": 100_000.0,
    "handshake_burst": 100_000,
    "max_handshakes_per_address": 100_000,
}


def make_config(**overrides: Any) -> Config:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "port": 0,
        "host": "127.0.0.1",
        "database": ":memory:",
        "session_key": SESSION_KEY,
        # Generous rates, so tests of other behaviour do not meet the rate
        # limits; the rate-limit tests set the limits they exercise.
        **GENEROUS_RATES,
    }
    values.update(overrides)
    return Config(**values)


def token_for(user: str, ttl_s: float = 3600.0, **claims: Any) -> str:
    if not claims:
        return AUTH.issue(user, ttl_s)
    body: dict[str, Any] = {"sub": user, "exp": int(time.time() + ttl_s)}
    body.update(claims)
    return jwt.encode(body, claims.pop("_secret", SECRET), algorithm="HS256")


async def start_server(
    nursery: trio.Nursery, *, agents: AgentRegistry | None = None, **overrides: Any
) -> Server:
    """Start a server in ``nursery``; it listens on a free loopback port."""
    server = Server(make_config(**overrides), agents=agents)
    started: Server = await nursery.start(server.run)
    return started


def agents_with(**replaced: Agent) -> AgentRegistry:
    """The built-in agents, with some replaced (or added) by name."""
    registry = AgentRegistry()
    built_in: dict[str, Agent] = {
        "supervisor": supervisor_agent,
        "triage": triage_agent,
        "optimization": optimization_agent,
    }
    for name, agent in {**built_in, **replaced}.items():
        registry.register(name, agent)
    return registry


def waiting_agent(gate: trio.Event | None = None) -> Agent:
    """An agent that thinks, then calls a ``wait`` tool that returns when
    ``gate`` is set (never, without one)."""

    async def wait() -> str:
        if gate is None:
            await trio.sleep_forever()
        await gate.wait()
        return "released"

    async def agent(ctx: RunContext) -> AgentResult:
        await ctx.emit.thinking("waiting", "about to wait")
        await ctx.emit.tool_call("waiting", "wait", {}, wait)
        return AgentResult(result={"waited": True}, report="waited")

    return agent


def giving_up_agent(gate: trio.Event) -> Agent:
    """An agent that thinks once, then fails with GIVING_UP when ``gate`` is set."""

    async def agent(ctx: RunContext) -> AgentResult:
        await ctx.emit.thinking("quitter", "stored")
        await gate.wait()
        raise AgentFailure("GIVING_UP", "the agent gave up")

    return agent


def paced_agent(steps: int, pause_s: float) -> Agent:
    """An agent that thinks ``steps`` times, ``pause_s`` apart."""

    async def agent(ctx: RunContext) -> AgentResult:
        for step in range(steps):
            await trio.sleep(pause_s)
            await ctx.emit.thinking("paced", f"step {step}")
        return AgentResult(result={"steps": steps}, report=f"{steps} steps")

    return agent


LISTENING = "netra-trio listening on "


async def read_listening_url(
    process: trio.Process, stderr_path: Path, timeout_s: float = 10.0
) -> str:
    """The URL from a server subprocess's ``netra-trio listening on ...`` line;
    fails with the server's log when it exits first."""
    assert process.stdout is not None
    buffered = b""
    with trio.fail_after(timeout_s):
        while b"\n" not in buffered:
            chunk = await process.stdout.receive_some(1)
            if not chunk:
                await process.wait()
                log = await trio.Path(stderr_path).read_text()
                pytest.fail(f"the server exited before it listened:\n{log}")
            buffered += chunk
    line = buffered.decode().strip()
    assert line.startswith((LISTENING + "ws://", LISTENING + "wss://")), line
    assert line.endswith("/ws"), line
    return line.rsplit(" ", 1)[-1]


PROJECT_ROOT = str(Path(__file__).resolve().parents[1])


@asynccontextmanager
async def serve_subprocess(
    args: list[str],
    *,
    cwd: Path,
    stderr_path: Path,
    timeout_s: float = 10.0,
    module: str = "netra_trio",
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[trio.Process, str]]:
    """``python -m MODULE serve --port 0 ARGS`` (``netra_trio``: the command
    itself) as a subprocess running the code under test, with ``env`` added
    to the environment; yields it and its URL once it listens, and kills it
    on exit."""
    with stderr_path.open("ab") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", module, "serve", "--port", "0", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": PROJECT_ROOT, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        yield process, await read_listening_url(process, stderr_path, timeout_s)
    finally:
        with trio.move_on_after(5, shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()


class DatabaseWriteLock:
    """Another connection holding a SQLite file's write lock (``BEGIN
    EXCLUSIVE``) while the ``with`` block runs: every write of a server on
    that file fails once its busy timeout passes (make it short with
    ``database_busy_timeout_s``). Reads go on (the file is in WAL mode)."""

    def __init__(self, path: Path) -> None:
        self._blocker = sqlite3.connect(path, timeout=0)

    def __enter__(self) -> DatabaseWriteLock:
        self._blocker.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._blocker.in_transaction:
            self._blocker.execute("ROLLBACK")
        self._blocker.close()


async def store_long_thread(path: Path) -> str:
    """A SQLite database at ``path`` holding one thread of alice's with 300
    messages (many pages of each table); returns the thread's id."""
    storage = await open_storage(str(path))
    try:
        thread = await storage.threads.create_thread("alice", "long")
        for n in range(300):
            await storage.threads.append_message(thread.thread_id, "user", f"message {n} " * 20)
    finally:
        await storage.close()
    return thread.thread_id


def damage_root_page(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` in the file itself (every page
    written back from the write-ahead log first)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        (root,) = db.execute(query, (table,)).fetchone()
    assert 1 < root < path.stat().st_size // page_size
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)


def logged_fields(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    """The fields of each record of ``event`` the server logged (``netra_logs``)."""
    return [
        getattr(record, "netra_fields", {})
        for record in caplog.records
        if getattr(record, "netra_event", None) == event
    ]


async def wait_logged(
    caplog: pytest.LogCaptureFixture, event: str, count: int = 1, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """Wait until the server has logged ``event`` ``count`` times; their fields."""
    with trio.fail_after(timeout_s):
        while len(found := logged_fields(caplog, event)) < count:  # noqa: ASYNC110 - the log
            await trio.sleep(0.01)
    return found
