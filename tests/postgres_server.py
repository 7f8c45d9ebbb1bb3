"""A real PostgreSQL server for the tests (and the benchmarks): a throwaway
cluster made by ``initdb`` in a temporary directory, started on a free
loopback port, removed when stopped for good.

PostgreSQL refuses to run as root, so when the tests run as root (CI) the
cluster belongs to, and runs as, an unprivileged user: ``postgres`` (made by
Debian's package) or else ``nobody``. The programs are looked up on the PATH,
then in Debian's ``/usr/lib/postgresql/VERSION/bin``.

Tests take ``postgres_url`` (a new, empty database of their own) or
``postgres_server`` (to stop and start the server).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.redis_server import free_port

START_S = 30.0
SUPERUSER = "netra"


def _bin_dir() -> Path:
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise RuntimeError(
            "PostgreSQL is not installed: `make test` installs it"
            " (Debian: apt-get install postgresql)"
        )
    return versions[-1].parent


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user that runs the cluster when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists")


class PostgresServer:
    """One throwaway cluster. ``durable=False`` (the tests): no fsync, as a
    crash of PostgreSQL itself is not what the tests are about."""

    def __init__(self, *, durable: bool = False, settings: dict[str, str] | None = None) -> None:
        self._bin = _bin_dir()
        self._user = _run_as()
        self.workdir = Path(tempfile.mkdtemp(prefix="netra-pg-"))
        self.port = free_port()
        self._settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.workdir),
            "max_connections": "300",
            "shared_buffers": "128MB",
            **({} if durable else {"fsync": "off", "full_page_writes": "off"}),
            **(settings or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None
        if self._user is not None:
            os.chown(self.workdir, self._user.pw_uid, self._user.pw_gid)
        self._as_owner([
            str(self._bin / "initdb"),
            "--pgdata", str(self.data),
            "--username", SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-sync",
        ])  # fmt: skip

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _as_owner(self, argv: list[str]) -> None:
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
            cwd=self.workdir,  # a directory its user may enter
            user=self._uid,
            group=self._gid,
            extra_groups=None if self._user is None else [],
        )

    @property
    def _uid(self) -> int | None:
        return None if self._user is None else self._user.pw_uid

    @property
    def _gid(self) -> int | None:
        return None if self._user is None else self._user.pw_gid

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers."""
        flags: list[str] = []
        for name, value in self._settings.items():
            flags += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            if self._user is not None:
                os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)
            self._process = subprocess.Popen(
                [str(self._bin / "postgres"), "-D", str(self.data), "-p", str(self.port), *flags],
                stdout=log,
                stderr=log,
                env={**os.environ, "LC_ALL": "C"},
                cwd=self.workdir,
                user=self._uid,
                group=self._gid,
                extra_groups=None if self._user is None else [],
            )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log_path.read_text()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not answer on port {self.port}")

    def stop(self) -> None:
        """A fast shutdown (SIGINT): every session is cut at once, as when the
        database server goes away."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=START_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop it and delete the cluster."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
