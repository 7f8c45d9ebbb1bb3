"""``--allowed-origins`` over loopback: a browser handshake from a listed
origin (in any spelling of it) connects, one from another origin gets 403
FORBIDDEN before its token is looked at, and a client that sends no
``Origin`` is not affected. Without the option every origin connects."""

from __future__ import annotations

import pytest

from netra_trio.server.app import Server
from tests.e2e.support import bearer, error_body, events, handshake, rejection
from tests.helpers import token_for

ALLOWED = ("https://app.example.com", "http://localhost:5173")


def with_origin(origin: str, user: str = "alice") -> list[tuple[bytes, bytes]]:
    return [*bearer(token_for(user)), (b"Origin", origin.encode())]


@pytest.mark.parametrize(
    "origin",
    ["https://app.example.com", "HTTPS://App.Example.com:443", "http://localhost:5173"],
)
@pytest.mark.netra_options(allowed_origins=ALLOWED)
async def test_a_listed_origin_connects(server: Server, origin: str) -> None:
    assert await handshake(server.url, headers=with_origin(origin)) is None


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://app.example.com", "http://localhost:3000", "null"],
)
@pytest.mark.netra_options(allowed_origins=ALLOWED)
async def test_another_origin_gets_403_forbidden(
    server: Server, netra_logs: pytest.LogCaptureFixture, origin: str
) -> None:
    refused = await rejection(server.url, headers=with_origin(origin))
    error = error_body(refused, 403, "FORBIDDEN")
    assert error["message"] == "this origin may not connect"
    (logged,) = events(netra_logs.records, "handshake_rejected")
    assert logged["status"] == 403 and logged["code"] == "FORBIDDEN"
    # refused before the token: even a missing one gets the 403
    refused = await rejection(server.url, headers=[(b"Origin", origin.encode())])
    error_body(refused, 403, "FORBIDDEN")


@pytest.mark.netra_options(allowed_origins=ALLOWED)
async def test_a_client_without_an_origin_is_not_affected(server: Server) -> None:
    assert await handshake(server.url, headers=bearer(token_for("alice"))) is None


async def test_by_default_any_origin_connects(server: Server) -> None:
    assert await handshake(server.url, headers=with_origin("https://evil.example")) is None
