"""For the client tests: a server that can be stopped and started again on
the same port and database, the log of stored events, and small agents."""

from __future__ import annotations

from typing import Any

import trio

from netra_trio.client import open_client
from netra_trio.server.app import Server
from tests.helpers import start_server, token_for

WAIT_S = 20.0  # the bound on any one wait in these tests


class RestartableServer:
    """A server run in its own task of ``nursery``; :meth:`stop` shuts it down
    gracefully (closes with 1001) and waits until it has ended; :meth:`start`
    runs a new one on the same port with the same configuration."""

    def __init__(self, nursery: trio.Nursery, **overrides: Any) -> None:
        self._nursery = nursery
        self._overrides = overrides
        self._server: Server | None = None
        self._stopped = trio.Event()

    @property
    def server(self) -> Server:
        assert self._server is not None, "started servers only"
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    async def start(self) -> Server:
        self._stopped = trio.Event()
        self._server = await self._nursery.start(self._run)
        self._overrides["port"] = self._server.port  # the next start takes the same port
        return self._server

    async def stop(self) -> None:
        self.server.request_shutdown()
        with trio.fail_after(WAIT_S):
            await self._stopped.wait()

    async def restart(self) -> Server:
        await self.stop()
        return await self.start()

    async def _run(self, task_status: trio.TaskStatus[Server]) -> None:
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(await start_server(nursery, **self._overrides))
        finally:
            self._stopped.set()


async def stored_seqs(url: str, user: str) -> list[int]:
    """Every seq stored for ``user``, read with ``resume`` from 0 by the
    frame-level client."""
    async with open_client(url, token_for(user)) as client:
        await client.send("resume", {"last_seq": 0}, message_id="all")
        seqs: list[int] = []
        with trio.fail_after(WAIT_S):
            while (frame := await client.receive())["type"] != "resume_complete":
                if "seq" in frame:
                    seqs.append(frame["seq"])
    return seqs
