"""A netra server as a subprocess (``python -m netra_trio serve``), driven
from asyncio: started on a free port, then stopped (SIGTERM: closes with
1001), killed (SIGKILL: connections drop without a close frame) and started
again on the same port and database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.helpers import LISTENING, PROJECT_ROOT, SECRET, SESSION_KEY

START_S = 20.0


class ServerProcess:
    def __init__(self, directory: Path, *args: str, **env: str) -> None:
        self._directory = directory
        self._args = list(args)
        self._env = env
        self._process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.url = ""

    async def start(self) -> str:
        """Start the server (on the port of the previous start); its URL."""
        with (self._directory / "server.log").open("ab") as log:
            process = await self._spawn(log.fileno())
        self._process = process
        assert process.stdout is not None
        async with asyncio.timeout(START_S):
            line = (await process.stdout.readline()).decode().strip()
        if not line.startswith(LISTENING):
            await self._end(process)
            text = (self._directory / "server.log").read_text()
            raise AssertionError(f"the server did not start: {line!r}\n{text}")
        self.url = line.rsplit(" ", 1)[-1]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        return self.url

    async def _spawn(self, stderr: int) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "netra_trio",
            "serve",
            "--port",
            str(self.port),
            "--database",
            str(self._directory / "netra.db"),
            *self._args,
            cwd=self._directory,
            env={
                **os.environ,
                "PYTHONPATH": PROJECT_ROOT,
                "NETRA_JWT_SECRET": SECRET,
                "NETRA_SESSION_KEY": SESSION_KEY,
                **self._env,
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )

    async def stop(self) -> None:
        """SIGTERM: a graceful shutdown (connections close with 1001)."""
        await self._signal(signal.SIGTERM)

    async def kill(self) -> None:
        """SIGKILL: connections drop without a close frame (1006)."""
        await self._signal(signal.SIGKILL)

    async def _signal(self, signum: int) -> None:
        process = self._process
        assert process is not None
        process.send_signal(signum)
        await self._end(process)

    async def _end(self, process: asyncio.subprocess.Process) -> None:
        async with asyncio.timeout(START_S):
            await process.wait()
            if process.stdout is not None:
                await process.stdout.read()  # to its end: the pipe is closed
        self._process = None

    async def __aenter__(self) -> ServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._process is not None:
            await self.kill()
