"""What the scenario runner (:mod:`benchmarks.run`), the storage cells
(:mod:`benchmarks.storage_cells`) and the probes share: the servers under test
as processes of their own (:class:`ServerProcess`, :class:`RedisProcess`), the
runner's log line, and the reports' number formats. It imports nothing of the
benchmarks, so that each of them can build on it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# -- processes -----------------------------------------------------------------------------


class ServerProcess:
    """One server under test, started in its own process, stopped with SIGTERM."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        secret: str,
        max_conns_per_user: int = 16,
        *,
        database: Path | None = None,
        database_url: str | None = None,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
    ):
        """``database_url``: our server on that database (e.g. ``postgresql://...``)
        instead of a SQLite file (``database``, or a fresh one in ``workdir``)."""
        self.kind = kind
        self.database: Path | None = None
        env = dict(os.environ, NETRA_JWT_SECRET=secret, PYTHONUNBUFFERED="1", **(env or {}))
        stamp = f"{kind}-{time.monotonic_ns()}"
        if kind == "netra":
            if database_url is None:
                self.database = database or workdir / f"{stamp}.db"
            target = database_url or str(self.database)
            argv = [PY, "-m", "benchmarks.netra_server", "--database", target]
            argv += ["--max-connections-per-user", str(max_conns_per_user)]
            if redis_url is not None:
                argv += ["--redis-url", redis_url]
        elif kind == "fastapi":
            self.database = workdir / f"{stamp}.db"
            argv = [PY, "-m", "benchmarks.baseline_fastapi", "--database", str(self.database)]
        else:
            argv = [PY, "-m", f"benchmarks.baseline_{kind}"]
        self.log_path = workdir / f"{stamp}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self.port = self._wait_listening(timeout_s=60.0)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ports(self) -> list[int]:
        return [self.port]

    @property
    def cpu_pids(self) -> dict[str, int]:
        """The server side's processes, by name, whose CPU a window sums."""
        return {"server": self.pid}

    @property
    def cpu_trees(self) -> frozenset[int]:
        """The pids of ``cpu_pids`` whose CPU is that of their whole process tree."""
        return frozenset()

    def cpu_parts(self) -> dict[str, float]:
        """CPU seconds so far by part of the server side (e.g. by thread), for a
        window's breakdown; none by default."""
        return {}

    def _wait_listening(self, timeout_s: float) -> int:
        assert self.proc.stdout is not None
        timer = threading.Timer(timeout_s, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                if line.startswith("listening "):
                    return int(line.split()[1])
        finally:
            timer.cancel()
        raise RuntimeError(f"{self.kind} server did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisProcess:
    """A redis-server of the benchmarks' own, on a free loopback port, persisting
    nothing unless told (``persistence``: its flags); stopped with SIGTERM (then
    SIGKILL)."""

    def __init__(
        self,
        workdir: Path,
        start_timeout_s: float = 10.0,
        *,
        persistence: Sequence[str] = ("--appendonly", "no"),
    ) -> None:
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(executable).exists():
            raise RuntimeError(
                "redis-server is not installed (`make services`; Debian: apt-get install"
                " redis-server)"
            )
        self.port = free_port()
        self.log_path = workdir / f"redis-{time.monotonic_ns()}.log"
        self.proc = subprocess.Popen(
            [
                executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                *persistence,
                "--dir", str(workdir),
                "--logfile", str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- reporting -------------------------------------------------------------------------------


def ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)
