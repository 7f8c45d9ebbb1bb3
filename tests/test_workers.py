"""``netra-trio serve --workers N``: N worker processes serve one port under a
parent that restarts a worker that dies and, on SIGTERM, stops them all
gracefully; refused without ``--redis-url``.

Real processes. Which worker holds a connection is read from ``/proc``: the
server's side of each established TCP connection to the port, matched to the
socket descriptors that each worker process holds. The workers' pids come from
the parent's log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.cli import main
from netra_trio.client import NetraClient, open_client
from netra_trio.config import Config
from netra_trio.errors import ConfigError
from netra_trio.workers import RestartBackoff
from tests.e2e.support import assert_alive, close_code
from tests.helpers import PROJECT_ROOT, SECRET, SESSION_KEY, serve_subprocess, token_for
from tests.redis_server import free_port

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads connections from Linux's /proc"
)

WAIT_S = 15.0
MAX_CLIENTS = 64


@asynccontextmanager
async def two_workers(
    redis_url: str, tmp_path: Path, stderr_path: Path
) -> AsyncIterator[tuple[trio.Process, str, dict[int, int]]]:
    """``serve --workers 2``: the parent, its URL, and its workers' pids by index."""
    async with serve_subprocess(
        serve_args(redis_url, tmp_path), cwd=tmp_path, stderr_path=stderr_path
    ) as (process, url):
        yield process, url, listening_workers(stderr_path)


def serve_args(redis_url: str, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--workers", "2",
        "--redis-url", redis_url,
        "--jwt-secret", SECRET,
        "--session-key", SESSION_KEY,
        "--database", str(tmp_path / "netra.db"),
        "--log-format", "json",
        "--handshake-rate-per-s", "1000",
        "--handshake-burst", "1000",
        "--shutdown-grace-s", "2",
        *extra,
    ]  # fmt: skip


def logged(stderr_path: Path, event: str) -> list[dict[str, Any]]:
    """The records of ``event`` in the JSON log that the parent and its
    workers share."""
    records = []
    for line in stderr_path.read_text().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            records.append(record)
    return records


async def wait_logged(
    stderr_path: Path, event: str, accept: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any]:
    """The first record of ``event`` that ``accept`` accepts, once it is logged."""
    with trio.fail_after(WAIT_S):
        while not (found := [r for r in logged(stderr_path, event) if accept(r)]):  # noqa: ASYNC110
            await trio.sleep(0.02)
    return found[0]


def listening_workers(stderr_path: Path) -> dict[int, int]:
    """Worker index -> pid, for the latest worker of each index that listened."""
    return {r["index"]: r["pid"] for r in logged(stderr_path, "worker_listening")}


def connections_held(pid: int, port: int) -> int:
    """Established TCP connections to ``port`` whose server side process ``pid`` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            port_held = int(local.rsplit(":", 1)[1], 16)
            held += state == "01" and port_held == port and inode in inodes
    return held


def free_port_pair() -> int:
    """A free port whose next port is free too."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


async def healthz(port: int) -> dict[str, Any]:
    response = await trio.to_thread.run_sync(httpx.get, f"http://127.0.0.1:{port}/healthz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie that no one reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def clients_on_each(
    stack: AsyncExitStack, url: str, pids: list[int]
) -> tuple[list[NetraClient], dict[int, int]]:
    """Open clients (each of its own user) until each of ``pids`` holds one;
    the clients and how many connections each pid holds."""
    port = urlsplit(url).port
    assert port is not None
    clients: list[NetraClient] = []
    while True:
        held = {pid: connections_held(pid, port) for pid in pids}
        if all(held.values()):
            return clients, held
        assert len(clients) < MAX_CLIENTS, f"{len(clients)} clients, held {held}"
        user = token_for(f"user-{len(clients)}")
        clients.append(await stack.enter_async_context(open_client(url, user)))


async def stop(process: trio.Process) -> int:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(WAIT_S):
        return await process.wait()


def test_the_restart_delay_doubles_while_workers_die_young() -> None:
    backoff = RestartBackoff(base_s=0.1, max_s=1.0, stable_s=10.0)
    young = [backoff.next_delay(lived_s=0.5) for _ in range(6)]
    assert young == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.next_delay(lived_s=10.0) == 0.1  # it had lived long: the delay starts over
    assert backoff.next_delay(lived_s=0.0) == 0.2


def test_more_than_one_worker_needs_redis() -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_sources({"workers": "2"}, {})
    assert "--workers 2" in str(refused.value) and "--redis-url" in str(refused.value)
    assert Config.from_sources({}, {"NETRA_WORKERS": "1"}).workers == 1
    both = Config.from_sources({"workers": "2"}, {"NETRA_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert both.workers == 2
    with pytest.raises(ConfigError, match="--workers must be at least 1, got 0"):
        Config.from_sources({"workers": "0"}, {})
    with pytest.raises(ConfigError, match="metrics-port \\+ workers - 1 must be at most 65535"):
        Config(workers=3, redis_url="redis://127.0.0.1:1/0", metrics_port=65534)


@pytest.mark.parametrize(
    ("args", "environ"),
    [(["--workers", "2"], {}), ([], {"NETRA_WORKERS": "3"})],
    ids=["flag", "environment"],
)
def test_serve_with_workers_but_without_redis_is_refused(
    tmp_path: Path, args: list[str], environ: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netra_trio", "serve", "--port", "0", *args],
        cwd=tmp_path,
        env={**os.environ, **environ, "PYTHONPATH": PROJECT_ROOT},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr and "needs --redis-url" in result.stderr
    assert "listening" not in result.stdout


def test_a_port_in_use_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "netra_trio", "serve", "--port", str(port)]
        result = subprocess.run(
            [*command, "--workers", "2", "--redis-url", "redis://127.0.0.1:1/0"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"netra-trio: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "worker_started" not in result.stderr


def test_workers_cannot_take_agents_given_to_main(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "--workers", "2", "--redis-url", "redis://127.0.0.1:1/0"]
    assert main([*args, "--jwt-secret", SECRET], agents=AgentRegistry()) == 2
    assert "--workers above 1" in capsys.readouterr().err


async def test_two_workers_serve_one_port(redis_url: str, tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.log"
    metrics_port = free_port_pair()
    args = serve_args(redis_url, tmp_path, "--metrics-port", str(metrics_port))
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=stderr_path) as (process, url):
        assert urlsplit(url).port != 0
        workers = listening_workers(stderr_path)
        assert sorted(workers) == [0, 1] and process.pid not in workers.values()
        async with AsyncExitStack() as stack:
            clients, held = await clients_on_each(stack, url, list(workers.values()))
            assert sum(held.values()) == len(clients)  # every connection is on a worker
            for client in clients[:2] + clients[-2:]:
                await assert_alive(client)
            # worker i answers /healthz on metrics-port + i, for its own connections
            counts = [(await healthz(metrics_port + i))["connections"] for i in (0, 1)]
            assert counts == [held[workers[0]], held[workers[1]]]
        assert await stop(process) == 0
    assert len(logged(stderr_path, "workers_listening")) == 1


async def test_a_killed_worker_is_restarted_and_the_port_keeps_serving(
    redis_url: str, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.log"
    async with two_workers(redis_url, tmp_path, stderr_path) as (process, url, workers):
        victim, survivor = workers[0], workers[1]
        os.kill(victim, signal.SIGKILL)
        exited = await wait_logged(stderr_path, "worker_exited", lambda r: r["pid"] == victim)
        assert (exited["index"], exited["signal"]) == (0, "SIGKILL")
        assert exited["level"] == "warning" and exited["restart_in_s"] > 0
        async with open_client(url, token_for("meanwhile")) as client:
            await assert_alive(client)  # the survivor (or already the new worker) serves
        restarted = await wait_logged(
            stderr_path, "worker_listening", lambda r: r["index"] == 0 and r["pid"] != victim
        )
        assert not alive(victim)
        async with AsyncExitStack() as stack:
            await clients_on_each(stack, url, [survivor, restarted["pid"]])
        assert await stop(process) == 0


async def test_sigterm_closes_every_workers_clients_with_1001_and_exits_0(
    redis_url: str, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.log"
    async with two_workers(redis_url, tmp_path, stderr_path) as (process, url, workers):
        async with AsyncExitStack() as stack:
            clients, _ = await clients_on_each(stack, url, list(workers.values()))
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(WAIT_S):
                codes = [await close_code(client) for client in clients]
        assert set(codes) == {1001}
        with trio.fail_after(WAIT_S):
            assert await process.wait() == 0
    stopped = logged(stderr_path, "worker_stopped")
    assert sorted((r["index"], r["code"]) for r in stopped) == [(0, 0), (1, 0)]
    assert logged(stderr_path, "workers_stopped")[0]["graceful"] is True
    assert not any(alive(pid) for pid in workers.values())
    assert "Traceback" not in stderr_path.read_text()


async def test_workers_stop_by_themselves_when_the_parent_is_killed(
    redis_url: str, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.log"
    async with two_workers(redis_url, tmp_path, stderr_path) as (process, _, workers):
        process.kill()
        with trio.fail_after(WAIT_S):
            while any(alive(pid) for pid in workers.values()):  # noqa: ASYNC110 - other processes
                await trio.sleep(0.02)
    assert len(logged(stderr_path, "parent_gone")) == 2


async def test_a_worker_that_cannot_start_stops_the_parent(tmp_path: Path) -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    stderr_path = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "netra_trio", "serve", "--port", "0"]
    with stderr_path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [*command, *serve_args(unreachable, tmp_path)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": PROJECT_ROOT},  # the code under test
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        with trio.fail_after(WAIT_S):
            assert await process.wait() == 1
    finally:
        if process.returncode is None:
            process.kill()
    log = stderr_path.read_text()
    assert f"netra-trio: cannot use Redis at {unreachable}" in log
    assert [r["index"] for r in logged(stderr_path, "worker_failed")] == [0]
    assert len(logged(stderr_path, "worker_started")) == 1  # not started again
