"""The command with TLS and public keys, as an operator runs it: ``wss://`` in
the listening line (one process, and ``--workers``), and one clear line, not a
traceback, for a certificate, key or public key that cannot be used."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from netra_trio.client import open_client
from tests.e2e.support import assert_alive
from tests.helpers import PROJECT_ROOT, SECRET, SESSION_KEY, serve_subprocess, token_for
from tests.signing_keys import public_pem, rsa_key, self_signed_certificate, signed


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "netra_trio", "serve", "--port", "0"]
    return subprocess.run(
        [*command, *_common(tmp_path), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
        capture_output=True,
        text=True,
        timeout=30,
    )


def _one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netra-trio: ")
    return lines[0].removeprefix("netra-trio: ")


def _common(tmp_path: Path) -> list[str]:
    return [
        "--jwt-secret", SECRET,
        "--session-key", SESSION_KEY,
        "--database", str(tmp_path / "netra.db"),
    ]  # fmt: skip


async def test_serve_with_tls_listens_on_wss(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    args = [*_common(tmp_path), "--tls-cert", str(cert), "--tls-key", str(key)]
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "err.log") as (_, url):
        assert url.startswith("wss://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert))
        async with open_client(url, token_for("alice"), ssl_context=trusting) as client:
            await assert_alive(client)


async def test_workers_serve_tls_on_their_shared_port(tmp_path: Path, redis_url: str) -> None:
    cert, key = self_signed_certificate(tmp_path)
    args = [
        *_common(tmp_path),
        "--workers", "2",
        "--redis-url", redis_url,
        "--tls-cert", str(cert),
        "--tls-key", str(key),
        "--shutdown-grace-s", "2",
    ]  # fmt: skip
    stderr_path = tmp_path / "err.log"
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=stderr_path, timeout_s=30) as (
        _,
        url,
    ):
        assert url.startswith("wss://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert))
        for user in ("alice", "bob", "carol", "dave"):
            async with open_client(url, token_for(user), ssl_context=trusting) as client:
                await assert_alive(client)


def test_a_missing_certificate_stops_the_start_with_one_line(tmp_path: Path) -> None:
    _, key = self_signed_certificate(tmp_path)
    missing = tmp_path / "missing.pem"
    result = _serve(tmp_path, "--tls-cert", str(missing), "--tls-key", str(key))
    assert _one_line_error(result, 1) == (
        f"tls-cert {str(missing)!r} cannot be read: No such file or directory"
    )


def test_a_key_of_another_certificate_stops_the_start_with_one_line(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    _, other_key = self_signed_certificate(tmp_path, name="other")
    result = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(other_key))
    assert _one_line_error(result, 1) == (
        f"tls-key {str(other_key)!r} is not the private key of tls-cert {str(cert)!r}"
    )


def test_a_certificate_without_its_key_is_a_configuration_error(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    result = _serve(tmp_path, "--tls-cert", str(cert))
    assert "tls-cert and tls-key go together" in _one_line_error(result, 2)


def test_an_unusable_public_key_stops_the_start_with_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "key.pem"
    garbage.write_text("hello\n")
    result = _serve(tmp_path, "--jwt-algorithms", "RS256", "--jwt-public-key", str(garbage))
    assert _one_line_error(result, 1) == (
        f"jwt-public-key {str(garbage)!r} cannot be used: it holds no PEM public key or certificate"
    )
    missing = tmp_path / "missing.pem"
    result = _serve(tmp_path, "--jwt-algorithms", "RS256", "--jwt-public-key", str(missing))
    assert _one_line_error(result, 1) == (
        f"jwt-public-key {str(missing)!r} cannot be read: No such file or directory"
    )


async def test_serve_verifies_tokens_with_a_public_key_file(tmp_path: Path) -> None:
    pem = tmp_path / "issuer.pem"
    pem.write_bytes(public_pem(rsa_key()))
    args = [*_common(tmp_path), "--jwt-algorithms", "RS256", "--jwt-public-key", str(pem)]
    stderr_path = tmp_path / "err.log"
    async with (
        serve_subprocess(args, cwd=tmp_path, stderr_path=stderr_path) as (_, url),
        open_client(url, signed(rsa_key(), "RS256")) as client,
    ):
        assert client.established["user_id"] == "alice"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jwt-algorithms", "none"], "never 'none'"),
        (["--jwt-algorithms", "HS256,PS256"], "'PS256' is not an algorithm"),
        (["--jwt-algorithms", "RS256"], "give jwt-public-key (a PEM file) or jwks-url"),
        (["--jwks-url", "http://127.0.0.1:1/jwks"], "add one of them to jwt-algorithms"),
        (["--jwt-algorithms", "ES256", "--jwks-url", "ftp://x/jwks"], "must be an http(s) URL"),
        (["--jwt-algorithms", "HS512"], "jwt-secret must be at least 64 bytes for HS512"),
    ],
    ids=["none", "unknown", "no-key", "no-algorithm", "not-http", "short-secret"],
)
def test_key_options_that_do_not_fit_are_configuration_errors(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    assert expected in _one_line_error(_serve(tmp_path, *args), 2)


def test_token_needs_a_shared_secret_algorithm(tmp_path: Path) -> None:
    pem = tmp_path / "issuer.pem"
    pem.write_bytes(public_pem(rsa_key()))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "netra_trio",
            "token",
            "--user",
            "alice",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": PROJECT_ROOT,
            "NETRA_JWT_ALGORITHMS": "RS256",
            "NETRA_JWT_PUBLIC_KEY": str(pem),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "lists no HS256, HS384 or HS512" in _one_line_error(result, 2)
    assert not (tmp_path / ".netra").exists()  # no dev secret is made for it
