"""``--tls-cert``/``--tls-key``: ``wss://`` (and HTTPS) on the server's port,
with a certificate made in the test; real TLS clients (trio-websocket, the
Python client, httpx, a raw TLS ClientHello) over loopback. A TLS handshake
that stalls is bounded by the handshake timeout; a bad certificate or key stops
the start with one line."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives import serialization
from trio_websocket import ConnectionRejected, open_websocket_url

from netra_trio.client import open_client
from netra_trio.errors import StartupError
from netra_trio.server.app import Server
from netra_trio.server.keys import tls_context
from tests.e2e.conftest import ServerFactory
from tests.e2e.support import assert_alive, bearer, error_body
from tests.helpers import make_config, token_for
from tests.signing_keys import self_signed_certificate

pytestmark = pytest.mark.e2e

HANDSHAKE_TIMEOUT_S = 5.0


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path)


@pytest.fixture
def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test's certificate (and nothing else)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
async def tls_server(make_server: ServerFactory, certificate: tuple[Path, Path]) -> Server:
    cert, key = certificate
    return await make_server(
        tls_cert=str(cert), tls_key=str(key), handshake_timeout_s=HANDSHAKE_TIMEOUT_S
    )


async def test_wss_serves_a_websocket_client_over_tls(
    tls_server: Server, trusting: ssl.SSLContext
) -> None:
    assert tls_server.url.startswith("wss://127.0.0.1:")
    headers = bearer(token_for("alice"))
    with trio.fail_after(10):
        async with open_websocket_url(
            tls_server.url, ssl_context=trusting, extra_headers=headers
        ) as ws:
            assert '"connection_established"' in str(await ws.get_message())
            await ws.send_message('{"type": "ping", "message_id": "p-1"}')
            assert '"pong"' in await ws.get_message()
    async with open_client(tls_server.url, token_for("bob"), ssl_context=trusting) as client:
        assert client.established["user_id"] == "bob"
        await assert_alive(client)


async def test_a_refusal_is_read_over_tls(tls_server: Server, trusting: ssl.SSLContext) -> None:
    with trio.fail_after(10), pytest.raises(ConnectionRejected) as info:
        async with open_client(tls_server.url, "not-a-token", ssl_context=trusting):
            pass  # pragma: no cover - refused
    error_body(info.value, 401, "UNAUTHORIZED")


async def test_https_is_answered_on_the_same_port(
    tls_server: Server, trusting: ssl.SSLContext
) -> None:
    base = tls_server.url.removeprefix("wss://").removesuffix("/ws")
    async with httpx.AsyncClient(verify=trusting) as http:
        response = await http.get(f"https://{base}/ws")
    assert response.http_version == "HTTP/1.1"
    assert 400 <= response.status_code < 500  # not a WebSocket upgrade: an HTTP answer


async def test_a_client_that_does_not_trust_the_certificate_cannot_connect(
    tls_server: Server, trusting: ssl.SSLContext
) -> None:
    with trio.fail_after(10), pytest.raises(trio.BrokenResourceError) as info:
        async with open_client(tls_server.url, token_for("alice"), ssl_context=None):
            pass  # pragma: no cover - the system does not trust the test's certificate
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    async with open_client(tls_server.url, token_for("alice"), ssl_context=trusting) as client:
        await assert_alive(client)


async def test_plain_http_on_the_tls_port_is_dropped_at_once(
    tls_server: Server, trusting: ssl.SSLContext
) -> None:
    request = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    elapsed = await _dropped_after(tls_server.port, request)
    assert elapsed < HANDSHAKE_TIMEOUT_S  # not a TLS record: no waiting for more
    async with open_client(tls_server.url, token_for("alice"), ssl_context=trusting) as client:
        await assert_alive(client)
    assert tls_server.hub.stats.connections_opened == 1


def _client_hello() -> bytes:
    """The first flight of a real TLS client, which then never continues."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def _dropped_after(port: int, first_bytes: bytes) -> float:
    """Seconds from connecting until the server hangs up on a client that
    sends ``first_bytes`` and then nothing; it never answers in plain HTTP."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    started = trio.current_time()
    received = b""
    async with stream:
        if first_bytes:
            await stream.send_all(first_bytes)
        with trio.fail_after(HANDSHAKE_TIMEOUT_S * 3):
            while chunk := await stream.receive_some(65536):
                received += chunk  # the server's half of the TLS handshake, if any
    assert not received.startswith(b"HTTP/")
    return trio.current_time() - started


@pytest.mark.parametrize("first_bytes", [b"", b"client-hello"], ids=["silent", "stalled"])
async def test_a_stalled_tls_handshake_is_dropped_at_the_handshake_timeout(
    tls_server: Server,
    trusting: ssl.SSLContext,
    autojump_clock: trio.testing.MockClock,
    first_bytes: bytes,
) -> None:
    hello = _client_hello() if first_bytes else b""
    elapsed: list[float] = []

    async def stall() -> None:
        elapsed.append(await _dropped_after(tls_server.port, hello))

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(stall)
        await trio.sleep(1)
        # meanwhile a real client is served at once
        async with open_client(tls_server.url, token_for("alice"), ssl_context=trusting) as client:
            await assert_alive(client)
            assert trio.current_time() < HANDSHAKE_TIMEOUT_S
    assert len(elapsed) == 20
    assert all(HANDSHAKE_TIMEOUT_S <= e < HANDSHAKE_TIMEOUT_S + 1 for e in elapsed), elapsed
    assert tls_server.hub.stats.connections_opened == 1


def test_the_server_context_accepts_tls_1_2_and_later(certificate: tuple[Path, Path]) -> None:
    context = tls_context(str(certificate[0]), str(certificate[1]))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_NONE  # clients are not asked for certificates


# --------------------------------------------------------------------------------------
# A certificate or key that cannot be used stops the start with one line
# --------------------------------------------------------------------------------------


async def _start_error(nursery: trio.Nursery, cert: Path | str, key: Path | str) -> str:
    server = Server(make_config(tls_cert=str(cert), tls_key=str(key)))
    with pytest.raises(StartupError) as info:
        await nursery.start(server.run)
    message = str(info.value)
    assert "\n" not in message
    return message


async def test_a_missing_certificate_or_key_stops_the_start(
    nursery: trio.Nursery, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    missing = tmp_path / "nowhere.pem"
    message = await _start_error(nursery, missing, key)
    assert message == f"tls-cert {str(missing)!r} cannot be read: No such file or directory"
    message = await _start_error(nursery, cert, missing)
    assert message == f"tls-key {str(missing)!r} cannot be read: No such file or directory"


async def test_a_key_of_another_certificate_stops_the_start(
    nursery: trio.Nursery, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = certificate
    _, other_key = self_signed_certificate(tmp_path, name="other")
    message = await _start_error(nursery, cert, other_key)
    assert message == f"tls-key {str(other_key)!r} is not the private key of tls-cert {str(cert)!r}"


async def test_files_that_are_not_pem_stop_the_start(
    nursery: trio.Nursery, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for pair in ((garbage, key), (cert, garbage), (key, cert)):
        message = await _start_error(nursery, *pair)
        assert message.startswith(f"tls-cert {str(pair[0])!r} and tls-key {str(pair[1])!r}")
        assert "cannot be used" in message


async def test_an_encrypted_key_stops_the_start(
    nursery: trio.Nursery, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    encrypted = tmp_path / "encrypted-key.pem"
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a password"),
        )
    )
    message = await _start_error(nursery, cert, encrypted)
    assert message.startswith(f"tls-key {str(encrypted)!r} is encrypted: give it unencrypted")
