"""Tokens with short lives against a real server: the client refreshes them
from its provider before they expire, reconnects with a new one when one
runs out, and gives up when nothing can replace it."""

from __future__ import annotations

import pytest
import trio

from netra_trio.client import ConnectionClosed, HandshakeRejected, connect
from netra_trio.protocol import client_messages as cm
from netra_trio.server.app import Server
from tests.client.support import WAIT_S
from tests.helpers import token_for, wait_logged

pytestmark = pytest.mark.e2e

SHORT_TTL_S = 3.0  # exp is whole seconds: 2 to 3 s from when it is made


class Tokens:
    """A provider of short-lived tokens of ``user`` that counts its calls."""

    def __init__(self, user: str = "alice", ttl_s: float = SHORT_TTL_S) -> None:
        self.user, self.ttl_s, self.calls = user, ttl_s, 0

    def __call__(self) -> str:
        self.calls += 1
        return token_for(self.user, self.ttl_s)


async def test_a_provider_keeps_a_connection_alive_past_each_tokens_expiry(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    tokens = Tokens()
    with trio.fail_after(WAIT_S):
        async with connect(server.url, tokens) as client:
            await wait_logged(netra_logs, "token_refreshed")
            await trio.sleep_until(trio.current_time() + SHORT_TTL_S)  # past the first exp
            assert await client.request(cm.Heartbeat())
            assert client.connections == 1
    assert tokens.calls >= 3  # the first token, then a refresh before each exp
    assert server.hub.stats.closes_by_code[1008] == 0


async def test_an_async_provider_refreshes_too(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    tokens = Tokens()

    async def provide() -> str:
        await trio.sleep(0.01)
        return tokens()

    with trio.fail_after(WAIT_S):
        async with connect(server.url, provide) as client:
            await wait_logged(netra_logs, "token_refreshed")
            assert client.connections == 1


async def test_without_refresh_a_run_out_token_is_replaced_by_reconnecting(
    server: Server,
) -> None:
    tokens = Tokens()
    with trio.fail_after(WAIT_S):
        async with connect(server.url, tokens, refresh_margin_s=None) as client:
            first = client.established.connection_id
            events = [e async for e in client.run("hello", agent="triage")]
            with trio.fail_after(SHORT_TTL_S + 5):
                while client.established.connection_id == first:  # noqa: ASYNC110 - client state
                    await trio.sleep(0.05)
            more = [e async for e in client.run("and again", agent="triage")]
    assert server.hub.stats.closes_by_code[1008] >= 1
    assert client.session_id == client.established.session_id
    assert client.established.resumed
    assert tokens.calls >= 2
    seqs = [e.seq for e in events + more]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_refused_refresh_is_tried_again(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    handed: list[str] = []

    def provide() -> str:
        # the first refresh gets a token that the server refuses
        text = token_for("alice", SHORT_TTL_S) + ("x" if len(handed) == 1 else "")
        handed.append(text)
        return text

    with trio.fail_after(WAIT_S):
        async with connect(server.url, provide) as client:
            await wait_logged(netra_logs, "token_refreshed")
            assert client.connections == 1
    assert len(handed) >= 3


async def test_a_plain_token_that_runs_out_ends_the_client_with_1008(server: Server) -> None:
    with trio.fail_after(WAIT_S):
        async with connect(server.url, token_for("alice", SHORT_TTL_S)) as client:
            stream = client.events()
            with pytest.raises(ConnectionClosed) as closed:
                await stream.__anext__()
    assert closed.value.code == 1008
    assert client.connections == 1


async def test_a_token_of_another_user_on_reconnecting_is_refused_by_the_server(
    server: Server,
) -> None:
    users = iter(["alice", "bob"])

    def provide() -> str:
        return token_for(next(users), SHORT_TTL_S)

    with trio.fail_after(WAIT_S):
        async with connect(server.url, provide, refresh_margin_s=None) as client:
            stream = client.events()
            with pytest.raises(HandshakeRejected) as refused:
                await stream.__anext__()  # alice's session, asked for with bob's token
    assert (refused.value.status, refused.value.code) == (403, "FORBIDDEN")
    assert client.established.user_id == "alice"
