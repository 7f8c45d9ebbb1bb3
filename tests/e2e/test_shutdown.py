"""`netra-trio serve` as a subprocess: SIGTERM/SIGINT close clients with 1001 and exit 0."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio

from netra_trio.auth import Authenticator
from netra_trio.client import NetraClient
from tests.e2e.support import assert_alive, bearer, close_code, websocket
from tests.helpers import serve_subprocess

pytestmark = pytest.mark.e2e

SECRET = "e2e-shutdown-secret-0123456789-abcdefgh"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_closes_clients_with_1001_and_exits_0(
    tmp_path: Path, signum: signal.Signals
) -> None:
    stderr_path = tmp_path / "stderr.log"
    async with serve_subprocess(
        ["--jwt-secret", SECRET], cwd=tmp_path, stderr_path=stderr_path
    ) as (process, url):
        assert url.startswith("ws://127.0.0.1:") and not url.startswith("ws://127.0.0.1:0/")
        issuer = Authenticator(secret=SECRET)
        async with (
            websocket(url, headers=bearer(issuer.issue("alice", 60))) as ws1,
            websocket(url, headers=bearer(issuer.issue("bob", 60))) as ws2,
        ):
            clients = [NetraClient(ws1), NetraClient(ws2)]
            for client in clients:
                with trio.fail_after(10):
                    assert (await client.receive())["type"] == "connection_established"
                await assert_alive(client)
            process.send_signal(signum)
            codes = [await close_code(client) for client in clients]
        assert codes == [1001, 1001]
        with trio.fail_after(10):
            assert await process.wait() == 0
    log = await trio.Path(stderr_path).read_text()
    assert "Traceback" not in log, log
