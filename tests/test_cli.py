"""The ``netra-trio`` command as a user runs it: tokens, the dev secret, JSON logs, bad config."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import orjson
import trio

from netra_trio.auth import Authenticator
from netra_trio.client import open_client
from tests.helpers import PROJECT_ROOT


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netra_trio", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": PROJECT_ROOT, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_token_uses_a_dev_secret_created_once_with_0600(tmp_path: Path) -> None:
    first = run_cli("token", "--user", "alice", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    secret_file = tmp_path / ".netra" / "jwt-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    user, _ = Authenticator(secret=secret).verify(first.stdout.strip())
    assert user == "alice"
    second = run_cli("token", "--user", "bob", "--ttl-s", "60", cwd=tmp_path)
    assert secret_file.read_text().strip() == secret  # generated once
    user, expires = Authenticator(secret=secret).verify(second.stdout.strip())
    assert user == "bob"
    assert 0 < expires - time.time() <= 61


def test_bad_configuration_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert "--port must be a whole number, got 'abc'" in result.stderr
    result = run_cli("serve", cwd=tmp_path, env={"NETRA_IDLE_TIMEOUT_S": "-5"})
    assert result.returncode == 2
    assert "NETRA_IDLE_TIMEOUT_S" in result.stderr and "'-5'" in result.stderr
    result = run_cli("serve", "--jwt-secret", "short", cwd=tmp_path)
    assert result.returncode == 2 and "at least 32 bytes" in result.stderr


async def test_json_logs_record_connects_and_close_codes(tmp_path: Path) -> None:
    secret = "cli-test-secret-0123456789-0123456789"
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "netra_trio",
            "serve",
            "--port",
            "0",
            "--log-format",
            "json",
            "--jwt-secret",
            secret,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        with trio.fail_after(15):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(1)
        url = line.decode().strip().rsplit(" ", 1)[-1]
        assert line.decode().startswith("netra-trio listening on ws://127.0.0.1:")
        token = Authenticator(secret=secret).issue("alice", 60)
        async with open_client(url, token) as client:
            await client.send("ping", user_id="mallory")
            assert (await client.receive_type("error"))["payload"]["code"] == "FORBIDDEN"
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await process.wait() == 0
        stderr = b""
        while chunk := await process.stderr.receive_some(65536):
            stderr += chunk
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    records = [orjson.loads(line) for line in stderr.decode().splitlines()]
    events = {r["event"]: r for r in records}
    assert events["connect"]["user"] == "alice"
    assert events["security_violation"]["reason"] == "frame names another user_id"
    assert events["disconnect"]["code"] == 1000 and events["disconnect"]["by"] == "client"
    assert token not in stderr.decode()
    assert all({"ts", "level", "event"} <= r.keys() for r in records)
    assert events["stopped"]["closes"] == {"1000": 1}
