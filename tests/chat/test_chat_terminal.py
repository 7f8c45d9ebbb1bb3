"""``netra-trio chat`` in a pseudo-terminal against a real server: a typed
message becomes a run shown tool by tool with its report; the server stopped
and started again on the same port and database, the chat reconnects by
itself, resumes, and shows the next run, with no event shown twice; Ctrl-D
ends it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from netra_trio.server.app import Server
from tests.helpers import PROJECT_ROOT, start_server, token_for

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
QUESTION = "We send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens. Cut cost?"
TEST_S = 60


class Terminal:
    """The chat's terminal, from the other end: what it printed (colours
    left out), and a keyboard."""

    def __init__(self, master: trio.lowlevel.FdStream) -> None:
        self._master = master
        self.text = ""
        self._changed = trio.Event()

    async def read(self) -> None:
        while True:
            try:
                data = await self._master.receive_some(65536)
            except trio.BrokenResourceError:  # EIO: the chat's side closed
                return
            if not data:
                return
            self.text += ANSI.sub(b"", data).decode(errors="replace").replace("\r", "")
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, text: str, count: int = 1) -> None:
        while self.text.count(text) < count:
            await self._changed.wait()

    async def type(self, keys: str) -> None:
        await self._master.send_all(keys.encode())


@asynccontextmanager
async def chat_in_a_terminal(url: str, token: str) -> AsyncIterator[tuple[trio.Process, Terminal]]:
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "COLUMNS": "110", "LINES": "50"}
    env.pop("NO_COLOR", None)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "netra_trio", "chat", "--url", url, "--token", token],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    terminal = Terminal(trio.lowlevel.FdStream(master))
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(terminal.read)
            yield process, terminal
            nursery.cancel_scope.cancel()
    finally:
        with trio.move_on_after(5, shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
        await terminal._master.aclose()


async def serve(
    database: str, port: int, stopped: trio.Event, *, task_status: trio.TaskStatus[Server]
) -> None:
    """A server until it is asked to stop; ``stopped`` is set once it has."""
    async with trio.open_nursery() as nursery:
        task_status.started(await start_server(nursery, database=database, port=port))
    stopped.set()


async def test_a_typed_message_runs_live_and_the_chat_resumes_after_a_restart(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    database = str(tmp_path / "netra.db")
    with trio.fail_after(TEST_S):
        stopped = trio.Event()
        server: Server = await nursery.start(serve, database, 0, stopped)
        async with chat_in_a_terminal(server.url, token_for("alice")) as (process, terminal):
            await terminal.wait_for("connected to")
            assert "as alice" in terminal.text
            await terminal.type(QUESTION + "\n")
            await terminal.wait_for("supervisor: done")
            first_run = terminal.text
            for shown in (
                "… supervisor: Plan: triage the request",
                "→ extract_figures",
                "✓ extract_figures",
                "→ cost_calculator",
                "Recommendations",  # the report, rendered from its Markdown
            ):
                assert shown in first_run, shown
            assert "## Recommendations" not in first_run  # (not the Markdown source)

            server.request_shutdown()
            await terminal.wait_for("connection lost: reconnecting")
            await stopped.wait()
            await nursery.start(serve, database, server.port, trio.Event())
            await terminal.wait_for("reconnected")
            await terminal.type("And with a 1.5 s latency target?\n")
            await terminal.wait_for("supervisor: done", count=2)
            after = terminal.text[len(first_run) :]
            # the second run only: nothing of the first shown again
            assert after.count("→ extract_figures") == 1
            assert terminal.text.count("… supervisor: Plan: triage") == 2
            assert "1.5 s latency target" in after

            print(terminal.text)  # the session, as the terminal showed it (pytest -s)
            await terminal.type("\x04")  # Ctrl-D
            assert await process.wait() == 0


async def test_a_refused_token_is_one_clear_line_and_exit_status_1(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery)
    with trio.fail_after(TEST_S):
        async with chat_in_a_terminal(server.url, "not-a-token") as (process, terminal):
            assert await process.wait() == 1
            await terminal.wait_for("netra-trio chat:")
    assert "401" in terminal.text and "not-a-token" not in terminal.text


def test_chat_without_a_token_needs_the_development_secret(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "netra_trio", "chat"],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": PROJECT_ROOT,
            "NETRA_JWT_ALGORITHMS": "RS256",
            "NETRA_JWKS_URL": "https://issuer.example/jwks",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "needs --token" in done.stderr
