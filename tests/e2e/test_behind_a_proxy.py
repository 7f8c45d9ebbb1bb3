"""Clients behind a proxy, over loopback: the test's connections stand for a
proxy at 127.0.0.1 that forwards many clients. Trusted (``--trusted-proxies``),
each forwarded client has its own handshake budget and is the ``remote`` of
the logs; untrusted, the headers are ignored and every client shares the
proxy's budget, whatever address it claims."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio_websocket import ConnectionRejected

from netra_trio.server.app import Server
from tests.e2e.support import bearer, events, handshake
from tests.helpers import token_for

CLIENTS = 100
# a burst far below the clients, refilled far slower than the test runs: one
# shared budget lets exactly BURST of them in
LIMITS: dict[str, Any] = {"handshake_burst": 20, "handshake_rate_per_s": 0.001}


async def reconnect_storm(url: str, header: str) -> dict[int, list[int]]:
    """``CLIENTS`` clients at once, client ``n`` forwarded as ``203.0.113.n``:
    the HTTP status each got (101 when it connected), by client."""
    statuses: dict[int, list[int]] = {}

    async def one(n: int) -> None:
        value = f"203.0.113.{n}" if header == "x-forwarded-for" else f"for=203.0.113.{n}"
        headers = [*bearer(token_for(f"user-{n}")), (header.encode(), value.encode())]
        with trio.fail_after(30):
            rejected = await handshake(url, headers=headers)
        status = 101 if rejected is None else rejected.status_code
        if isinstance(rejected, ConnectionRejected):
            retry_after = dict(rejected.headers).get(b"retry-after")
            assert retry_after is not None and int(retry_after) >= 1
        statuses.setdefault(status, []).append(n)

    async with trio.open_nursery() as nursery:
        for n in range(CLIENTS):
            nursery.start_soon(one, n)
    return statuses


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded"])
@pytest.mark.netra_options(trusted_proxies=("127.0.0.1/32",), **LIMITS)
async def test_clients_through_a_trusted_proxy_each_have_their_own_budget(
    server: Server, netra_logs: pytest.LogCaptureFixture, header: str
) -> None:
    statuses = await reconnect_storm(server.url, header)
    assert {status: len(clients) for status, clients in statuses.items()} == {101: CLIENTS}
    connects = events(netra_logs.records, "connect")
    assert {c["remote"] for c in connects} == {f"203.0.113.{n}" for n in range(CLIENTS)}


@pytest.mark.netra_options(trusted_proxies=("10.0.0.0/8",), **LIMITS)
async def test_an_untrusted_peer_cannot_claim_another_address(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    """The same storm from a peer that is not a trusted proxy: the forwarded
    addresses are ignored; the peer's one budget lets 20 in and refuses 80
    (429 with Retry-After), and the logs name the peer."""
    statuses = await reconnect_storm(server.url, "x-forwarded-for")
    assert {status: len(clients) for status, clients in statuses.items()} == {101: 20, 429: 80}
    logged = events(netra_logs.records, "connect") + events(
        netra_logs.records, "handshake_rejected"
    )
    assert len(logged) == CLIENTS
    assert {entry["remote"].rsplit(":", 1)[0] for entry in logged} == {"127.0.0.1"}


@pytest.mark.netra_options(**LIMITS)  # the default: no proxy is trusted
async def test_without_trusted_proxies_forwarded_headers_are_ignored(
    server: Server,
) -> None:
    statuses = await reconnect_storm(server.url, "forwarded")
    assert {status: len(clients) for status, clients in statuses.items()} == {101: 20, 429: 80}


@pytest.mark.netra_options(
    trusted_proxies=("127.0.0.1",),
    handshake_burst=2,
    handshake_rate_per_s=0.001,
)
async def test_a_malformed_forwarded_header_counts_against_the_proxy_itself(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    for n in range(3):
        headers = [*bearer(token_for(f"u{n}")), (b"x-forwarded-for", b"203.0.113.9, unknown")]
        rejected = await handshake(server.url, headers=headers)
        assert (rejected is None) == (n < 2)
    # a well-formed one still has its own budget
    headers = [*bearer(token_for("u9")), (b"x-forwarded-for", b"203.0.113.9")]
    assert await handshake(server.url, headers=headers) is None
    remotes = [c["remote"] for c in events(netra_logs.records, "connect")]
    assert [r.rsplit(":", 1)[0] for r in remotes[:2]] == ["127.0.0.1", "127.0.0.1"]
    assert remotes[2] == "203.0.113.9"
