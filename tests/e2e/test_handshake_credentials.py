"""Credentials the handshake must not guess at: two of them (even of one user),
a subject that is too long or holds invisible characters, an expiry decades
or 1e308 seconds ahead. Each is a 401 with a clear message, over loopback."""

from __future__ import annotations

import time

import jwt
import pytest

from netra_trio.auth import SUBPROTOCOL
from netra_trio.server.app import Server
from tests.e2e.support import bearer, error_body, events, rejection
from tests.helpers import SECRET, token_for

pytestmark = pytest.mark.e2e


def _signed(claims: dict[str, object]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def _refused(
    server: Server,
    netra_logs: pytest.LogCaptureFixture,
    *,
    headers: list[tuple[bytes, bytes]],
    subprotocols: tuple[str, ...] = (),
) -> str:
    rejected = await rejection(server.url, headers=headers, subprotocols=subprotocols)
    error = error_body(rejected, 401, "UNAUTHORIZED")
    assert server.hub.stats.connections_opened == 0
    assert [e["status"] for e in events(netra_logs.records, "handshake_rejected")] == [401]
    message: str = error["message"]
    return message


@pytest.mark.parametrize("subprotocol_user", ["bob", "alice"])
async def test_a_header_and_a_bearer_subprotocol_are_refused(
    server: Server, netra_logs: pytest.LogCaptureFixture, subprotocol_user: str
) -> None:
    alice, other = token_for("alice"), token_for(subprotocol_user)
    message = await _refused(
        server,
        netra_logs,
        headers=bearer(alice),
        subprotocols=(SUBPROTOCOL, f"bearer.{other}"),
    )
    assert "credentials given twice" in message
    assert alice not in message and other not in message


@pytest.mark.parametrize("second_user", ["bob", "alice"])
async def test_two_authorization_headers_are_refused(
    server: Server, netra_logs: pytest.LogCaptureFixture, second_user: str
) -> None:
    headers = bearer(token_for("alice")) + bearer(token_for(second_user))
    message = await _refused(server, netra_logs, headers=headers)
    assert "more than one Authorization header" in message


@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        ("a" * 256, "at most 255 characters"),
        ("x" * 10_000, "at most 255 characters"),
        ("bob\u202eecila", "U+202E"),
        ("alice\nWARNING security_violation user=bob", "U+000A"),
        ("alice\x00", "U+0000"),
    ],
    ids=["256-chars", "10k-chars", "rtl-override", "newline", "nul"],
)
async def test_an_unbounded_subject_is_refused(
    server: Server, netra_logs: pytest.LogCaptureFixture, sub: str, expected: str
) -> None:
    token = _signed({"sub": sub, "exp": int(time.time()) + 600})
    message = await _refused(server, netra_logs, headers=bearer(token))
    assert "token subject" in message
    assert expected in message


@pytest.mark.parametrize("exp", [1e308, time.time() + 10 * 365 * 86_400])
async def test_an_absurd_expiry_is_refused(
    server: Server, netra_logs: pytest.LogCaptureFixture, exp: float
) -> None:
    token = _signed({"sub": "alice", "exp": exp})
    message = await _refused(server, netra_logs, headers=bearer(token))
    assert "more than 366 days ahead" in message
