"""The client core across connections: handshakes, resume, refresh, and what
to do when a connection ends or cannot be opened (synchronous, no I/O)."""

from __future__ import annotations

import random

import jwt
import pytest

from netra_trio.client.core.backoff import ReconnectPolicy
from netra_trio.client.core.decisions import GiveUp, Reconnect
from netra_trio.client.core.state import ClientCore, Phase
from netra_trio.client.core.urls import parse_url
from netra_trio.client.errors import (
    ConnectFailed,
    ConnectionClosed,
    HandshakeRejected,
    TokenUnavailable,
)

NOW = 1_000_000.0


def token(exp: float, user: str = "alice") -> str:
    return jwt.encode({"sub": user, "exp": exp}, "k" * 32, algorithm="HS256")


def core(
    *,
    provider: bool = False,
    exp: float = NOW + 3600,
    policy: ReconnectPolicy | None = None,
    last_seq: int | None = None,
    url: str = "wss://agents.example.com",
) -> ClientCore:
    return ClientCore(
        parse_url(url),
        token(exp),
        now=NOW,
        has_token_provider=provider,
        policy=policy,
        last_seq=last_seq,
        rng=random.Random(3),
    )


def connected(client: ClientCore, now: float = NOW, session: str = "s-1") -> ClientCore:
    client.established(session, "alice", server_time=now, now=now)
    return client


def test_the_first_handshake_carries_the_token_and_no_session() -> None:
    client = core()
    handshake = client.handshake()
    assert (handshake.host, handshake.port, handshake.secure) == ("agents.example.com", 443, True)
    assert handshake.host_header == "agents.example.com"
    assert handshake.resource == "/ws"
    assert handshake.headers == (("Authorization", f"Bearer {client.tokens.token}"),)
    assert client.tokens.token not in repr(handshake)
    assert client.phase is Phase.CONNECTING


def test_a_reconnect_asks_for_the_session_and_resumes_from_the_last_seq() -> None:
    client = connected(core())
    assert client.phase is Phase.OPEN
    for seq in (1, 2):
        assert client.accept_event(seq, NOW)
    assert isinstance(client.closed(1001, "server shutting down", NOW + 60), Reconnect)
    assert client.phase is Phase.RECONNECTING
    assert client.handshake().resource == "/ws?session_id=s-1"
    assert client.established("s-1", "alice", NOW + 61, NOW + 61) == 2
    assert not client.accept_event(2, NOW)
    assert client.accept_event(3, NOW)
    assert client.connections == 2


def test_a_session_named_in_the_url_is_asked_for_first() -> None:
    client = core(url="ws://h/ws?session_id=kept&batch=1")
    assert client.session_id == "kept"
    assert client.handshake().resource == "/ws?batch=1&session_id=kept"
    connected(client, session="s-new")
    assert client.handshake().resource == "/ws?batch=1&session_id=s-new"


def test_a_first_connection_resumes_only_from_a_seq_given_at_start() -> None:
    assert connected(core()).resume.last_seq is None
    assert core(last_seq=12).established("s", "alice", NOW, NOW) == 12
    assert core().established("s", "alice", NOW, NOW) is None


def test_a_reconnect_before_any_event_replays_from_0() -> None:
    client = connected(core())
    client.closed(1006, "", NOW + 1)
    assert client.established("s-1", "alice", NOW + 2, NOW + 2) == 0
    assert not client.accept_event(5, NOW - 1)
    assert client.accept_event(6, NOW + 1)
    client.resumed(gap=True)
    assert client.resume.gaps == 1


def test_a_token_of_another_user_ends_the_client() -> None:
    client = connected(core())
    client.closed(1006, "", NOW)
    with pytest.raises(TokenUnavailable, match="another user"):
        client.established("s-2", "mallory", NOW, NOW)


@pytest.mark.parametrize("code", [1001, 1006, 1011, 1012, 1013, 1014, 4002, 4008, 4009, 4999, 3000])
def test_a_connection_that_ends_for_a_passing_reason_is_reopened(code: int) -> None:
    client = connected(core())
    decision = client.closed(code, "why", NOW + 1)
    assert isinstance(decision, Reconnect)
    assert 0 <= decision.delay_s <= 0.5
    assert not decision.new_session
    assert client.session_id == "s-1"


def test_an_expired_session_is_replaced_by_a_new_one() -> None:
    client = connected(core())
    decision = client.closed(4001, "idle timeout", NOW + 1800)
    assert decision == Reconnect(decision.delay_s, new_session=True)  # type: ignore[union-attr]
    assert client.handshake().resource == "/ws"
    client.established("s-2", "alice", NOW + 1801, NOW + 1801)
    assert client.handshake().resource == "/ws?session_id=s-2"


@pytest.mark.parametrize("code", [1000, 1002, 1003, 1007, 1009, 1010])
def test_a_close_that_another_connection_would_repeat_ends_the_client(code: int) -> None:
    client = connected(core())
    decision = client.closed(code, "why", NOW + 1)
    assert isinstance(decision, GiveUp)
    assert isinstance(decision.error, ConnectionClosed)
    assert (decision.error.code, decision.error.reason) == (code, "why")
    assert client.phase is Phase.CLOSED


def test_1008_at_the_tokens_expiry_reconnects_when_a_provider_gives_a_new_token() -> None:
    client = connected(core(provider=True, exp=NOW + 3600))
    decision = client.closed(1008, "token expired", NOW + 3600)
    assert isinstance(decision, Reconnect)
    assert client.token_needed(NOW + 3600)
    client.use_token(token(NOW + 7200), NOW + 3600)
    assert not client.token_needed(NOW + 3601)
    assert "Bearer " + client.tokens.token in dict(client.handshake().headers).values()


def test_1008_a_little_before_the_expiry_by_our_clock_counts_as_the_expiry() -> None:
    client = connected(core(provider=True, exp=NOW + 7200))
    assert isinstance(client.closed(1008, "", NOW + 7200 - 59), Reconnect)


@pytest.mark.parametrize(
    ("provider", "exp", "at"),
    [
        (True, NOW + 3600, NOW + 600),  # far from exp: a security close
        (False, NOW + 3600, NOW + 3600),  # at exp, but nobody to give a new token
    ],
)
def test_1008_that_a_new_token_would_not_cure_ends_the_client(
    provider: bool, exp: float, at: float
) -> None:
    client = connected(core(provider=provider, exp=exp))
    decision = client.closed(1008, "repeated security violations", at)
    assert isinstance(decision, GiveUp)
    assert isinstance(decision.error, ConnectionClosed)
    assert decision.error.code == 1008


def test_1008_with_an_opaque_token_ends_the_client() -> None:
    client = ClientCore(parse_url("ws://h"), "opaque", now=NOW, has_token_provider=True)
    connected(client)
    assert isinstance(client.closed(1008, "", NOW + 10**6), GiveUp)


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_that_says_when_to_come_back_is_retried_then(status: int) -> None:
    client = connected(core())
    client.closed(1001, "", NOW + 1)
    refused = HandshakeRejected(status, "RATE_LIMITED", "slow down", retry_after_s=7)
    decision = client.refused(refused)
    assert isinstance(decision, Reconnect)
    assert decision.delay_s >= 7


def test_a_server_error_is_retried_with_the_backoff() -> None:
    client = connected(core())
    client.closed(1001, "", NOW + 1)
    assert isinstance(client.refused(HandshakeRejected(502, None, "bad gateway")), Reconnect)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 426])
def test_a_refusal_for_the_credentials_or_the_request_ends_the_client(status: int) -> None:
    client = connected(core())
    client.closed(1001, "", NOW + 1)
    refused = HandshakeRejected(status, "UNAUTHORIZED", "token has expired")
    assert client.refused(refused) == GiveUp(refused)


def test_an_unreachable_server_is_retried() -> None:
    client = connected(core())
    client.closed(1006, "", NOW + 1)
    assert isinstance(client.unreachable(ConnectFailed("refused")), Reconnect)


def test_every_failure_before_the_first_connection_ends_the_client_at_once() -> None:
    failed = ConnectFailed("connection refused")
    assert core().unreachable(failed) == GiveUp(failed)
    busy = HandshakeRejected(503, "SHUTTING_DOWN", "later", 1)
    assert core().refused(busy) == GiveUp(busy)
    decision = core().closed(1001, "server shutting down", NOW)
    assert isinstance(decision, GiveUp)


def test_the_client_gives_up_after_max_attempts_failures_in_a_row() -> None:
    client = connected(core(policy=ReconnectPolicy(max_attempts=2)))
    assert isinstance(client.closed(1006, "", NOW + 1), Reconnect)
    assert isinstance(client.unreachable(ConnectFailed("refused")), Reconnect)
    last = ConnectFailed("still refused")
    assert client.unreachable(last) == GiveUp(last)


def test_a_connection_that_stayed_up_starts_the_count_again() -> None:
    client = connected(core(policy=ReconnectPolicy(max_attempts=1, stable_after_s=10)))
    assert isinstance(client.closed(1006, "", NOW + 100), Reconnect)
    connected(client, now=NOW + 101)
    assert isinstance(client.closed(1006, "", NOW + 200), Reconnect)  # lasted 99 s
    connected(client, now=NOW + 201)
    assert isinstance(client.closed(1006, "", NOW + 202), GiveUp)  # lasted 1 s


def test_without_reconnects_the_first_drop_ends_the_client() -> None:
    client = connected(core(policy=ReconnectPolicy(max_attempts=0)))
    decision = client.closed(1001, "server shutting down", NOW + 5)
    assert isinstance(decision, GiveUp)


def test_a_client_closed_by_its_caller_never_reconnects() -> None:
    client = connected(core())
    client.close()
    assert isinstance(client.closed(1006, "", NOW + 1), GiveUp)


def test_refreshes_are_scheduled_only_with_a_provider() -> None:
    assert connected(core()).refresh_at() is None
    client = connected(core(provider=True, exp=NOW + 3600))
    assert client.refresh_at() == NOW + 3600 - 60
    client.refresh_failed(NOW + 3540)
    assert client.refresh_at() == NOW + 3545
    client.refreshed(token(NOW + 7200), NOW + 7200, NOW + 3545)
    assert client.refresh_at() == NOW + 7200 - 60


def test_message_ids_are_unique_and_carry_a_random_prefix() -> None:
    first, second = core(), ClientCore(parse_url("ws://h"), "t", now=NOW)
    ids = [first.next_message_id() for _ in range(3)]
    assert len(set(ids)) == 3
    prefix = ids[0].rsplit("-", 1)[0]
    assert all(i.startswith(prefix + "-") for i in ids)
    assert not second.next_message_id().startswith(prefix + "-")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"last_seq": -1}, "last_seq must be None or at least 0"),
        ({"last_seq": True}, "last_seq must be None or at least 0"),
        ({"refresh_margin_s": 0}, "refresh_margin_s must be positive or None"),
    ],
)
def test_options_that_cannot_work_are_refused(options: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ClientCore(parse_url("ws://h"), "t", now=NOW, **options)  # type: ignore[arg-type]
