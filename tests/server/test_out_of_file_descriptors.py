"""A server out of file descriptors: new sockets wait in the listen backlog,
the accept error is logged, and the server accepts again once descriptors are
free (rather than crashing or spinning). The server runs as a subprocess with
a low descriptor limit."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import orjson
import trio

from netra_trio.auth import Authenticator
from netra_trio.client import open_client
from tests.helpers import serve_subprocess
from tests.server.fd_limited_server import FD_LIMIT

SECRET = "fd-limit-secret-0123456789-0123456789"


def records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def test_out_of_descriptors_the_server_waits_and_then_accepts_again(
    tmp_path: Path,
) -> None:
    stderr_path = tmp_path / "server.log"
    args = ["--jwt-secret", SECRET, "--log-format", "json", "--handshake-timeout-s", "60"]
    idle: list[socket.socket] = []
    async with serve_subprocess(
        args, cwd=tmp_path, stderr_path=stderr_path, module="tests.server.fd_limited_server"
    ) as (process, url):
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        try:
            with trio.fail_after(20):
                while not any(r["event"] == "accept_error" for r in records(stderr_path)):
                    if len(idle) < 2 * FD_LIMIT:  # idle sockets: each holds one of its descriptors
                        idle.append(socket.create_connection(("127.0.0.1", port)))
                    await trio.sleep(0.01)
            (first, *_) = [r for r in records(stderr_path) if r["event"] == "accept_error"]
            assert first["error"] == "EMFILE" and first["level"] == "error"
        finally:
            for sock in idle:
                sock.close()  # the server reads EOF and frees their descriptors
        token = Authenticator(secret=SECRET).issue("alice", 60)
        async with open_client(url, token, connect_timeout_s=15) as client:
            assert (await client.request("ping"))["type"] == "pong"
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await process.wait() == 0
    stopped = [r for r in records(stderr_path) if r["event"] == "stopped"]
    assert len(stopped) == 1
