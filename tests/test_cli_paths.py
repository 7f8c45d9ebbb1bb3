"""The ``netra-trio`` command's other paths: a configured session key (no key
file is made), the development-secret notice, a secret file others could
read, ``python -m netra_trio.cli``, and the lazily imported public API."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import trio

import netra_trio
from netra_trio.auth import Authenticator
from netra_trio.cli import main
from netra_trio.client import open_client
from tests.helpers import SESSION_KEY, serve_subprocess

SECRET = "cli-paths-secret-0123456789-0123456789"


# The command reads NETRA_* variables: these tests need none set around them.
no_netra_environ = pytest.mark.skipif(
    any(name.startswith("NETRA_") for name in os.environ),
    reason="NETRA_* variables are set in this environment",
)


@no_netra_environ
async def test_serve_with_a_session_key_makes_no_key_file_and_notes_the_dev_secret(
    tmp_path: Path,
) -> None:
    stderr_path = tmp_path / "server.log"
    args = ["--session-key", SESSION_KEY, "--log-format", "json"]
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=stderr_path) as (process, url):
        secret = (tmp_path / ".netra" / "jwt-secret").read_text().strip()
        async with open_client(url, Authenticator(secret=secret).issue("alice", 60)) as client:
            assert (await client.request("ping"))["type"] == "pong"
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await process.wait() == 0
    assert not (tmp_path / ".netra" / "session-key").exists()  # the configured key is used
    records = [orjson.loads(line) for line in stderr_path.read_text().splitlines()]
    (notice,) = [r for r in records if r["event"] == "dev_secret"]
    assert notice["created"] is True
    assert notice["path"] == ".netra/jwt-secret"
    assert "netra-trio token --user" in notice["hint"]
    assert secret not in stderr_path.read_text()


@no_netra_environ
def test_a_secret_file_others_could_read_is_made_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o644)
    assert main(["token", "--user", "alice", "--secret-file", str(secret_file)]) == 0
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == SECRET  # the same secret, kept
    user, _ = Authenticator(secret=SECRET).verify(capsys.readouterr().out.strip())
    assert user == "alice"


def test_the_cli_module_runs_as_a_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netra_trio.cli", "token", "--user", "bob", "--jwt-secret", SECRET],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    user, _ = Authenticator(secret=SECRET).verify(result.stdout.strip())
    assert user == "bob"


def test_the_public_api_loads_its_io_parts_on_first_use() -> None:
    from netra_trio.client import open_client as client_module_open
    from netra_trio.server.app import Server

    assert netra_trio.Server is Server
    assert netra_trio.open_client is client_module_open
    with pytest.raises(AttributeError, match="has no attribute 'Serve'"):
        netra_trio.Serve  # noqa: B018 - a misspelling


@no_netra_environ
async def test_a_signal_right_after_the_listening_line_is_a_graceful_stop(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    async with serve_subprocess([], cwd=tmp_path, stderr_path=log) as (process, _url):
        process.send_signal(signal.SIGTERM)  # at once: the handler is in place before the line
        with trio.fail_after(15):
            assert await process.wait() == 0
