"""``--jwks-url``: the issuer's keys, fetched from a JWKS document served on
loopback (which counts its requests), chosen by ``kid``, cached, fetched again
for an unknown ``kid`` at most once per ``--jwks-min-refetch-s``, and after
``--jwks-cache-s``. A key set that cannot be fetched is 503 UNAVAILABLE.

The server and the issuer run on the virtual clock: waiting out an interval
costs no real time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.conftest import ServerFactory
from tests.e2e.support import (
    assert_alive,
    bearer,
    error_body,
    events,
    handshake,
    rejection,
    websocket,
)
from tests.helpers import SECRET
from tests.jwks_server import JwksServer
from tests.signing_keys import ec_key, ed_key, forged, jwk, public_pem, rsa_key, signed

pytestmark = pytest.mark.e2e

CACHE_S = 300.0
MIN_REFETCH_S = 10.0


@pytest.fixture
async def issuer(nursery: trio.Nursery) -> JwksServer:
    keys = [jwk(rsa_key(), "rsa-1", "RS256"), jwk(ec_key(), "ec-1"), jwk(ed_key(), "ed-1")]
    served: JwksServer = await nursery.start(JwksServer(keys).run)
    return served


async def _jwks_server(
    make_server: ServerFactory, issuer: JwksServer, **overrides: object
) -> Server:
    return await make_server(
        jwt_algorithms=("RS256", "ES256", "EdDSA"),
        jwks_url=issuer.url,
        jwks_cache_s=CACHE_S,
        jwks_min_refetch_s=MIN_REFETCH_S,
        **overrides,
    )


async def _accepted(server: Server, token: str) -> bool:
    with trio.fail_after(10):
        return await handshake(server.url, headers=bearer(token)) is None


async def _refused(server: Server, token: str, status: int = 401) -> str:
    rejected = await rejection(server.url, headers=bearer(token))
    code = "UNAUTHORIZED" if status == 401 else "UNAVAILABLE"
    message: str = error_body(rejected, status, code)["message"]
    return message


async def test_keys_are_chosen_by_kid_and_fetched_once(
    make_server: ServerFactory, issuer: JwksServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _jwks_server(make_server, issuer)
    assert issuer.requests == 0  # fetched when a token first needs it
    for _ in range(3):
        assert await _accepted(server, signed(rsa_key(), "RS256", kid="rsa-1"))
        assert await _accepted(server, signed(ec_key(), "ES256", kid="ec-1"))
        assert await _accepted(server, signed(ed_key(), "EdDSA", kid="ed-1", sub="bob"))
    assert issuer.requests == 1
    # the right kid, the wrong key; a key of another type than the algorithm
    assert "signature" in await _refused(server, signed(rsa_key(n=1), "RS256", kid="rsa-1"))
    assert "does not match its key" in await _refused(
        server, signed(ec_key(), "ES256", kid="rsa-1")
    )
    assert "'kid'" in await _refused(server, signed(rsa_key(), "RS256"))
    assert issuer.requests == 1


async def test_unknown_kids_refetch_at_most_once_per_interval(
    make_server: ServerFactory, issuer: JwksServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _jwks_server(make_server, issuer)
    assert await _accepted(server, signed(rsa_key(), "RS256", kid="rsa-1"))
    assert issuer.requests == 1

    async def made_up_kids(count: int) -> None:
        async with trio.open_nursery() as nursery:
            for i in range(count):
                token = signed(rsa_key(n=1), "RS256", kid=f"made-up-{i}")
                nursery.start_soon(_refused, server, token)

    await made_up_kids(20)  # within the interval of the first fetch: no fetch
    assert issuer.requests == 1
    await trio.sleep(MIN_REFETCH_S)
    await made_up_kids(20)  # at once: one fetch for all of them
    assert issuer.requests == 2
    await trio.sleep(MIN_REFETCH_S / 2)
    await made_up_kids(20)
    assert issuer.requests == 2
    message = await _refused(server, signed(rsa_key(n=1), "RS256", kid="made-up"))
    assert "not in the issuer's key set" in message

    # the issuer rotates in a new key: found once the interval has passed
    issuer.keys = [*issuer.keys, jwk(rsa_key(n=1), "rsa-2")]
    await trio.sleep(MIN_REFETCH_S / 2)
    assert await _accepted(server, signed(rsa_key(n=1), "RS256", kid="rsa-2"))
    assert await _accepted(server, signed(rsa_key(), "RS256", kid="rsa-1"))
    assert issuer.requests == 3


async def test_the_key_set_is_fetched_again_after_its_cache_time(
    make_server: ServerFactory, issuer: JwksServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _jwks_server(make_server, issuer)
    token = signed(rsa_key(), "RS256", kid="rsa-1", ttl_s=3600)
    assert await _accepted(server, token)
    await trio.sleep(CACHE_S - 1)
    assert await _accepted(server, token)
    assert issuer.requests == 1
    issuer.keys = [jwk(ec_key(), "ec-1")]  # rsa-1 is withdrawn
    await trio.sleep(2)
    assert "not in the issuer's key set" in await _refused(server, token)
    assert issuer.requests == 2


async def test_an_issuer_that_cannot_answer_gives_503_until_it_does(
    make_server: ServerFactory,
    issuer: JwksServer,
    netra_logs: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = await _jwks_server(make_server, issuer)
    issuer.status = 500
    token = signed(rsa_key(), "RS256", kid="rsa-1")
    rejected = await rejection(server.url, headers=bearer(token))
    error = error_body(rejected, 503, "UNAVAILABLE")
    assert "key set" in error["message"]
    assert dict(rejected.headers)[b"retry-after"] == b"1"
    assert [e["error"] for e in events(netra_logs.records, "jwks_unavailable")] == [
        "the issuer answered HTTP 500"
    ]
    await _refused(server, token, status=503)  # within the interval: no new request
    assert issuer.requests == 1
    issuer.status = 200
    await trio.sleep(MIN_REFETCH_S)
    assert await _accepted(server, token)
    assert issuer.requests == 2
    # the issuer fails again: the keys it gave stay in use
    issuer.status = 500
    await trio.sleep(CACHE_S)
    assert await _accepted(server, token)
    assert issuer.requests == 3
    assert len(events(netra_logs.records, "jwks_unavailable")) == 2


async def test_an_issuer_that_is_not_there_gives_503(
    make_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there now
    server = await make_server(
        jwt_algorithms=("RS256",), jwks_url=f"http://127.0.0.1:{port}/jwks.json"
    )
    await _refused(server, signed(rsa_key(), "RS256", kid="rsa-1"), status=503)


async def test_algorithms_outside_the_list_and_confusion_are_refused(
    make_server: ServerFactory, issuer: JwksServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _jwks_server(make_server, issuer)
    pem = public_pem(rsa_key())
    claims = {"sub": "alice", "exp": 4_000_000_000}
    for token in (
        signed(SECRET, "HS256", kid="rsa-1"),  # the server's own secret: HS256 is not listed
        forged({"alg": "HS256", "kid": "rsa-1"}, claims, pem),  # the public key as HMAC secret
        forged({"alg": "none", "kid": "rsa-1"}, claims, None),
        signed(rsa_key(), "RS384", kid="rsa-1"),
    ):
        message = await _refused(server, token)
        assert "algorithm" in message
    assert issuer.requests == 0  # refused before any key is looked for


async def test_refresh_judges_the_new_token_by_the_key_set(
    make_server: ServerFactory, issuer: JwksServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _jwks_server(make_server, issuer, idle_timeout_s=100_000.0)
    first = signed(rsa_key(), "RS256", kid="rsa-1", ttl_s=600)
    async with websocket(server.url, headers=bearer(first)) as ws:
        client = NetraClient(ws)
        assert (await client.receive())["type"] == "connection_established"
        later = signed(ec_key(), "ES256", kid="ec-1", ttl_s=3600)
        assert (await client.request("refresh", {"token": later}))["type"] == "token_refreshed"
        # a rotated key the issuer cannot be asked about now: UNAVAILABLE, expiry kept
        issuer.status = 500
        await trio.sleep(MIN_REFETCH_S)
        rotated = signed(rsa_key(n=1), "RS256", kid="rsa-2", ttl_s=7200)
        reply = await client.request("refresh", {"token": rotated})
        assert reply["payload"]["code"] == "UNAVAILABLE"
        assert "key set" in reply["payload"]["message"]
        # once it answers again, the key is found
        issuer.status = 200
        issuer.keys = [*issuer.keys, jwk(rsa_key(n=1), "rsa-2")]
        await trio.sleep(MIN_REFETCH_S)
        assert (await client.request("refresh", {"token": rotated}))["type"] == "token_refreshed"
        await assert_alive(client)
