"""``refresh`` over loopback with short token lifetimes: a connection whose
token would expire lives on with the new one; another user's token and an
invalid one are refused on the wire and never logged or echoed."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import trio

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import (
    assert_alive,
    bearer,
    close_code,
    events,
    rendered_logs,
    websocket,
)
from tests.helpers import token_for

pytestmark = pytest.mark.e2e

SHORT_TTL_S = 2.0  # exp is whole seconds: it expires 1 to 2 s from now


async def test_a_refreshed_connection_outlives_its_first_token(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with websocket(server.url, headers=bearer(token_for("alice", SHORT_TTL_S))) as ws:
        client = NetraClient(ws)
        assert (await client.receive())["type"] == "connection_established"
        new_token = token_for("alice", 60)
        reply = await client.request("refresh", {"token": new_token})
        assert reply["type"] == "token_refreshed", reply
        assert abs(reply["payload"]["expires_at"] - (time.time() + 60)) <= 2
        await trio.sleep(SHORT_TTL_S + 1)  # past the first token's expiry
        await assert_alive(client)
    assert server.hub.stats.closes_by_code[1008] == 0
    [logged] = events(netra_logs.records, "token_refreshed")
    assert logged["user"] == "alice"
    assert new_token not in rendered_logs(netra_logs.records)


async def test_without_refresh_the_same_connection_ends_with_1008(server: Server) -> None:
    async with websocket(server.url, headers=bearer(token_for("alice", SHORT_TTL_S))) as ws:
        client = NetraClient(ws)
        assert (await client.receive())["type"] == "connection_established"
        assert await close_code(client) == 1008


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (lambda: token_for("bob", 60), "FORBIDDEN"),
        (lambda: token_for("alice", -5), "UNAUTHORIZED"),
        (lambda: token_for("alice", 60) + "x", "UNAUTHORIZED"),
    ],
    ids=["another-user", "expired", "bad-signature"],
)
async def test_a_refused_refresh_keeps_the_first_tokens_expiry(
    server: Server, netra_logs: pytest.LogCaptureFixture, token: Callable[[], str], code: str
) -> None:
    text = token()
    async with websocket(server.url, headers=bearer(token_for("alice", SHORT_TTL_S))) as ws:
        client = NetraClient(ws)
        assert (await client.receive())["type"] == "connection_established"
        reply = await client.request("refresh", {"token": text}, message_id="r-1")
        assert reply["type"] == "error"
        assert reply["payload"]["code"] == code
        assert reply["correlation_id"] == "r-1"
        assert await close_code(client) == 1008  # at the first token's expiry
    violations = events(netra_logs.records, "security_violation")
    assert len(violations) == (1 if code == "FORBIDDEN" else 0)
    assert server.hub.stats.security_violations == len(violations)
    assert text not in rendered_logs(netra_logs.records)
