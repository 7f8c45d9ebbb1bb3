"""A server short of file descriptors, run as a subprocess with a low limit:
out of them, new sockets wait in the listen backlog, the accept error is
logged, and the server accepts again once descriptors are free (rather than
crashing or spinning); at start it raises its soft limit to the hard one; and
sockets trickling from one address, held to its cap of handshakes in
progress, cannot take every descriptor from another address's handshake."""

from __future__ import annotations

import resource
import signal
import socket
from pathlib import Path

import orjson
import pytest
import trio
from wsproto.events import AcceptConnection

from netra_trio.auth import Authenticator
from netra_trio.client import open_client
from tests.helpers import serve_subprocess
from tests.server.fd_limited_server import FD_LIMIT
from tests.server.harness import RawClient

SECRET = "fd-limit-secret-0123456789-0123456789"


def records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def test_out_of_descriptors_the_server_waits_and_then_accepts_again(
    tmp_path: Path,
) -> None:
    stderr_path = tmp_path / "server.log"
    args = ["--jwt-secret", SECRET, "--log-format", "json", "--handshake-timeout-s", "60"]
    args += ["--max-handshakes-per-address", "10000"]  # every idle socket holds its descriptor
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


def open_files_limits(pid: int) -> tuple[str, str]:
    """The soft and hard limits of open files of a process, as Linux shows them."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no open-files line")


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc")
async def test_the_server_raises_its_soft_open_files_limit_to_the_hard_one(
    tmp_path: Path,
) -> None:
    stderr_path = tmp_path / "server.log"
    args = ["--jwt-secret", SECRET, "--log-format", "json"]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    async with serve_subprocess(
        args,
        cwd=tmp_path,
        stderr_path=stderr_path,
        module="tests.server.fd_limited_server",
        env={"FD_LIMIT_SOFT_ONLY": "1"},  # started with a soft limit of FD_LIMIT
    ) as (process, _):
        soft_now, hard_now = open_files_limits(process.pid)
        assert soft_now == hard_now
        if hard != resource.RLIM_INFINITY:
            assert int(hard_now) == hard
        (logged,) = [r for r in records(stderr_path) if r["event"] == "open_files_limit"]
        assert logged["raised_from"] == FD_LIMIT
        assert str(logged["soft"]) == soft_now and logged["level"] == "info"


async def trickle(stream: trio.SocketStream) -> None:
    """An upgrade request sent a byte a second, never finished."""
    request = b"GET /ws HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 600
    try:
        for byte in request:
            await stream.send_all(bytes([byte]))
            await trio.sleep(1)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return  # refused (and closed) by the server


async def test_trickling_sockets_from_one_address_do_not_delay_another_address(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Twice as many trickling sockets from 127.0.0.1 as the server may hold
    descriptors (its hard limit is FD_LIMIT): past its cap of handshakes in
    progress per address, the server refuses them at once, so a handshake from
    127.0.0.2 is served while they trickle, long before the handshake timeout
    (60 s) would free their descriptors."""
    stderr_path = tmp_path / "server.log"
    args = ["--jwt-secret", SECRET, "--log-format", "json", "--handshake-timeout-s", "60"]
    async with serve_subprocess(
        args, cwd=tmp_path, stderr_path=stderr_path, module="tests.server.fd_limited_server"
    ) as (process, url):
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        slow: list[trio.SocketStream] = []
        try:
            for _ in range(2 * FD_LIMIT):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                slow.append(stream)
                nursery.start_soon(trickle, stream)
            await trio.sleep(1)  # every one has sent its first bytes
            token = Authenticator(secret=SECRET).issue("alice", 60)
            with trio.fail_after(30):  # half the handshake timeout
                other = await trio.open_tcp_stream("127.0.0.1", port, local_address="127.0.0.2")
                async with other:
                    client = RawClient(other)
                    accepted = await client.handshake(token)
                    assert isinstance(accepted, AcceptConnection), accepted
                    assert (await client.next_frame())["type"] == "connection_established"
                    await client.close()
            refused = [r for r in records(stderr_path) if r["event"] == "handshake_rejected"]
            assert refused and all(r["status"] == 429 for r in refused)
            assert {r["remote"].rsplit(":", 1)[0] for r in refused} == {"127.0.0.1"}
        finally:
            for stream in slow:
                await stream.aclose()
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await process.wait() == 0
