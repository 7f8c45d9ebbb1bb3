"""Handshake auth: 401 JSON bodies that never echo the token, subprotocol auth, and 404."""

from __future__ import annotations

import time

import jwt
import pytest

from netra_trio.auth import SUBPROTOCOL
from netra_trio.client import open_client
from netra_trio.server.app import Server
from tests.e2e.support import (
    assert_alive,
    bearer,
    connect,
    error_body,
    events,
    rejection,
    rendered_logs,
    websocket,
)
from tests.helpers import SECRET, token_for

pytestmark = pytest.mark.e2e

OTHER_SECRET = "not-the-server-secret-0123456789-abcdef"


def _signed(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _future() -> int:
    return int(time.time() + 3600)


FORGED = _signed({"sub": "alice", "exp": _future()}, OTHER_SECRET)

# name -> (header value or None, subprotocols, the token that must never be echoed)
BAD_CREDENTIALS: dict[str, tuple[str | None, list[str], str | None]] = {
    "missing": (None, [], None),
    "malformed": ("Bearer not.a-jwt.at-all-x9q7", [], "not.a-jwt.at-all-x9q7"),
    "garbage-segments": ("Bearer Zm9v.YmFy.YmF6", [], "Zm9v.YmFy.YmF6"),
    "bad-signature": ("Bearer " + FORGED, [], FORGED),
    "expired": ("Bearer " + token_for("alice", -60), [], None),
    "no-sub": ("Bearer " + _signed({"exp": _future()}), [], None),
    "no-exp": ("Bearer " + _signed({"sub": "alice"}), [], None),
    "basic-scheme": ("Basic YWxpY2U6c2VjcmV0", [], "YWxpY2U6c2VjcmV0"),
    "token-scheme-with-valid-token": ("Token " + token_for("alice"), [], None),
    "empty-bearer": ("Bearer", [], None),
    "bearer-subprotocol-without-netra": (None, ["bearer." + token_for("alice")], None),
    "bad-bearer-subprotocol": (None, [SUBPROTOCOL, "bearer.abc.def.ghi"], "abc.def.ghi"),
}


def _secret_part(header: str | None, subprotocols: list[str], extra: str | None) -> list[str]:
    """Every credential string of a case that must not appear in replies or logs."""
    parts = [p for p in [extra] if p]
    if header is not None and " " in header.strip():
        parts.append(header.split(" ", 1)[1].strip())
    parts += [p.removeprefix("bearer.") for p in subprotocols if p.startswith("bearer.")]
    return [p for p in parts if len(p) >= 8]


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
async def test_bad_credentials_get_401_without_echoing_the_token(
    server: Server, netra_logs: pytest.LogCaptureFixture, case: str
) -> None:
    header, subprotocols, extra = BAD_CREDENTIALS[case]
    headers = [] if header is None else [(b"Authorization", header.encode())]
    rejected = await rejection(server.url, headers=headers, subprotocols=subprotocols)
    error = error_body(rejected, 401, "UNAUTHORIZED")
    assert server.hub.stats.connections_opened == 0
    assert server.hub.stats.handshakes_rejected[401] == 1
    logged = events(netra_logs.records, "handshake_rejected")
    assert [e["status"] for e in logged] == [401]
    secrets = _secret_part(header, subprotocols, extra)
    body = rejected.body.decode() if rejected.body else ""
    logs = rendered_logs(netra_logs.records)
    for secret in secrets:
        assert secret not in body
        assert secret not in error["message"]
        assert secret not in logs
        assert secret not in repr(rejected.headers)


async def test_valid_header_token_connects_and_selects_no_subprotocol(server: Server) -> None:
    async with websocket(server.url, headers=bearer(token_for("alice"))) as ws:
        assert ws.subprotocol is None
    async with connect(server, "alice") as client:
        assert client.established["user_id"] == "alice"
        await assert_alive(client)


async def test_subprotocol_auth_selects_netra_v1(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    token = token_for("alice")
    async with websocket(server.url, subprotocols=[SUBPROTOCOL, f"bearer.{token}"]) as ws:
        assert ws.subprotocol == SUBPROTOCOL
    async with open_client(server.url, token, use_subprotocol=True) as client:
        assert client.ws.subprotocol == SUBPROTOCOL
        assert client.established["user_id"] == "alice"
        await assert_alive(client)
    assert events(netra_logs.records, "connect")
    assert token not in rendered_logs(netra_logs.records)


async def test_subprotocol_order_does_not_matter(server: Server) -> None:
    token = token_for("alice")
    async with websocket(server.url, subprotocols=[f"bearer.{token}", SUBPROTOCOL]) as ws:
        assert ws.subprotocol == SUBPROTOCOL


AUDIENCE = "netra-clients"
ISSUER = "netra-auth"


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"aud": AUDIENCE, "iss": ISSUER}, True),
        ({"iss": ISSUER}, False),
        ({"aud": "someone-else", "iss": ISSUER}, False),
        ({"aud": AUDIENCE}, False),
        ({"aud": AUDIENCE, "iss": "evil-issuer"}, False),
    ],
    ids=["both", "no-aud", "wrong-aud", "no-iss", "wrong-iss"],
)
@pytest.mark.netra_options(jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
async def test_configured_audience_and_issuer_are_enforced(
    server: Server, claims: dict[str, str], accepted: bool
) -> None:
    token = _signed({"sub": "alice", "exp": _future(), **claims})
    if accepted:
        async with websocket(server.url, headers=bearer(token)) as ws:
            assert ws.subprotocol is None
        return
    rejected = await rejection(server.url, headers=bearer(token))
    error_body(rejected, 401, "UNAUTHORIZED")
    assert token not in (rejected.body or b"").decode()


@pytest.mark.parametrize("path", ["/other", "/", "/ws/extra", "/WS"])
async def test_wrong_path_is_404_even_with_a_valid_token(server: Server, path: str) -> None:
    url = server.url.removesuffix("/ws") + path
    rejected = await rejection(url, headers=bearer(token_for("alice")))
    error_body(rejected, 404, "NOT_FOUND")
    assert server.hub.stats.connections_opened == 0
