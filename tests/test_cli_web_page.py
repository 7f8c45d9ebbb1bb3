"""``netra-trio serve`` on the development secret prints, after its listening
line, the web page's address with a token in the fragment, ready to open; a
configured secret, or ``--no-web-ui``, prints no such line. The
``--no-web-ui`` switch and ``NETRA_WEB_UI``."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import trio

from netra_trio.auth import Authenticator
from netra_trio.cli import PAGE_LINE, PAGE_TOKEN_TTL_S, PAGE_USER, _parser
from netra_trio.config import Config
from netra_trio.errors import ConfigError
from netra_trio.server.web_page import page_url
from tests.helpers import serve_subprocess

SECRET = "cli-web-page-secret-0123456789-0123456789"

no_netra_environ = pytest.mark.skipif(
    any(name.startswith("NETRA_") for name in os.environ),
    reason="NETRA_* variables are set in this environment",
)


async def next_line(process: trio.Process) -> str:
    assert process.stdout is not None
    line = b""
    with trio.fail_after(10):
        while not line.endswith(b"\n"):
            chunk = await process.stdout.receive_some(1)
            if not chunk:
                break
            line += chunk
    return line.decode()


@no_netra_environ
async def test_serve_on_the_development_secret_prints_the_page_with_a_token(
    tmp_path: Path,
) -> None:
    async with serve_subprocess([], cwd=tmp_path, stderr_path=tmp_path / "server.log") as (
        process,
        url,
    ):
        port = int(url.rsplit(":", 1)[1].removesuffix("/ws"))
        line = await next_line(process)
        prefix = f"{PAGE_LINE}http://127.0.0.1:{port}/#token="
        assert line.startswith(prefix) and line.endswith("\n"), line
        token = line.removeprefix(prefix).strip()
        secret = (tmp_path / ".netra" / "jwt-secret").read_text().strip()
        user, expires_at = Authenticator(secret=secret).verify(token)
        assert user == PAGE_USER == "alice"
        assert expires_at == pytest.approx(time.time() + PAGE_TOKEN_TTL_S, abs=60)
        async with httpx.AsyncClient() as http:  # the page is there
            page = await http.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and b"/static/app.js" in page.content
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await process.wait() == 0
    assert token not in (tmp_path / "server.log").read_text()


@no_netra_environ
@pytest.mark.parametrize("args", [["--jwt-secret", SECRET], ["--no-web-ui"]])
async def test_no_page_line_with_a_configured_secret_or_without_the_page(
    tmp_path: Path, args: list[str]
) -> None:
    async with serve_subprocess(args, cwd=tmp_path, stderr_path=tmp_path / "server.log") as (
        process,
        url,
    ):
        # (an answer means the server is past its start, where it prints)
        async with httpx.AsyncClient() as http:
            health = await http.get(url.replace("ws://", "http://").replace("/ws", "/healthz"))
        assert health.status_code == 200
        process.kill()
        with trio.fail_after(15):
            await process.wait()
        assert await next_line(process) == ""  # the listening line was all


def test_no_web_ui_is_a_switch_and_netra_web_ui_its_variable() -> None:
    args = _parser().parse_args(["serve", "--no-web-ui"])
    assert args.web_ui is False
    assert Config.from_sources({"web_ui": args.web_ui}, {}).web_ui is False
    assert _parser().parse_args(["serve"]).web_ui is None
    assert Config.from_sources({}, {}).web_ui is True
    for raw, expected in (("0", False), ("off", False), (" False ", False), ("1", True)):
        assert Config.from_sources({}, {"NETRA_WEB_UI": raw}).web_ui is expected
        assert Config.from_sources({"web_ui": raw}, {}).web_ui is expected
    with pytest.raises(ConfigError, match=r"NETRA_WEB_UI must be 1 or 0 .* got 'maybe'"):
        Config.from_sources({}, {"NETRA_WEB_UI": "maybe"})


@pytest.mark.parametrize(
    ("host", "tls", "expected"),
    [
        ("127.0.0.1", False, "http://127.0.0.1:8765/"),
        ("0.0.0.0", False, "http://127.0.0.1:8765/"),
        ("::", False, "http://[::1]:8765/"),
        ("::1", True, "https://[::1]:8765/"),
        ("example.org", True, "https://example.org:8765/"),
    ],
)
def test_the_page_address_names_a_host_a_browser_can_open(
    host: str, tls: bool, expected: str
) -> None:
    tls_files = {"tls_cert": "cert.pem", "tls_key": "key.pem"} if tls else {}
    assert page_url(Config(host=host, **tls_files), 8765) == expected
