"""Handshake admission: the target, the refusals as HTTP answers, and the rate per address."""

from __future__ import annotations

import math
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.client_address import TrustedProxies
from netra_trio.core.handshake import (
    CLUSTER_UNAVAILABLE,
    MAX_TRACKED_ADDRESSES,
    NOT_FOUND,
    ORIGIN_FORBIDDEN,
    SESSION_FORBIDDEN,
    SHUTTING_DOWN,
    STORAGE_UNAVAILABLE,
    TOO_MANY_IN_PROGRESS,
    WS_PATH,
    HandshakeGate,
    HandshakeLimiter,
    InProgress,
    Rejection,
    Target,
    check_request,
    handshake_rate,
    parse_target,
    too_many_connections,
    unauthorized,
)
from netra_trio.core.origins import OriginPolicy
from netra_trio.errors import ErrorCode

BASE_HEADERS = [(b"Content-Type", b"application/json"), (b"Connection", b"close")]


def retry_after(rejection: Rejection) -> str | None:
    values = [v.decode() for k, v in rejection.headers() if k == b"Retry-After"]
    assert len(values) <= 1
    return values[0] if values else None


def error_of(rejection: Rejection) -> dict[str, str]:
    body = orjson.loads(rejection.body())
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert set(error) == {"code", "message"}
    return error


# -- Rejection: the HTTP answer -------------------------------------------------------------------


def test_the_body_is_the_code_and_the_message() -> None:
    rejection = Rejection(401, ErrorCode.UNAUTHORIZED, "token has expired")
    assert orjson.loads(rejection.body()) == {
        "error": {"code": "UNAUTHORIZED", "message": "token has expired"}
    }


def test_a_refusal_without_a_wait_has_no_retry_after() -> None:
    rejection = Rejection(403, ErrorCode.FORBIDDEN, "no")
    assert rejection.retry_after_s is None
    assert rejection.headers() == BASE_HEADERS


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        (0.0, "1"),  # never below one second
        (0.001, "1"),
        (0.5, "1"),
        (1.0, "1"),
        (1.000001, "2"),  # rounded up, never down
        (1.5, "2"),
        (2.0, "2"),
        (59.2, "60"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(
    seconds: float, header: str
) -> None:
    rejection = Rejection(429, ErrorCode.RATE_LIMITED, "slow down", seconds)
    assert rejection.headers() == [*BASE_HEADERS, (b"Retry-After", header.encode())]


@settings(max_examples=300, deadline=None)
@given(seconds=st.floats(0.0, 1e6))
def test_retry_after_never_invites_a_retry_too_early(seconds: float) -> None:
    header = retry_after(Rejection(429, ErrorCode.RATE_LIMITED, "slow down", seconds))
    assert header is not None and header.isdigit()
    value = int(header)
    assert value >= 1
    assert value >= seconds
    assert value - 1 < max(seconds, 1.0)  # and no more than a second late


# Made inside the test: the factories run as the test does, not as it is collected.
REFUSALS: dict[str, Callable[[], Rejection]] = {
    "not found": lambda: NOT_FOUND,
    "shutting down": lambda: SHUTTING_DOWN,
    "session forbidden": lambda: SESSION_FORBIDDEN,
    "storage unavailable": lambda: STORAGE_UNAVAILABLE,
    "Redis unavailable": lambda: CLUSTER_UNAVAILABLE,
    "unauthorized": lambda: unauthorized("token signature is invalid"),
    "too many connections": lambda: too_many_connections(5),
    "handshake rate": lambda: handshake_rate(0.25),
    "in progress": lambda: TOO_MANY_IN_PROGRESS,
    "origin": lambda: ORIGIN_FORBIDDEN,
}


@pytest.mark.parametrize(
    ("name", "status", "code", "header"),
    [
        ("not found", 404, ErrorCode.NOT_FOUND, None),
        ("shutting down", 503, ErrorCode.SHUTTING_DOWN, "1"),
        ("session forbidden", 403, ErrorCode.FORBIDDEN, None),
        ("storage unavailable", 503, ErrorCode.UNAVAILABLE, "1"),
        ("Redis unavailable", 503, ErrorCode.UNAVAILABLE, "1"),
        ("unauthorized", 401, ErrorCode.UNAUTHORIZED, None),
        ("too many connections", 429, ErrorCode.TOO_MANY_CONNECTIONS, "1"),
        ("handshake rate", 429, ErrorCode.RATE_LIMITED, "1"),
        ("in progress", 429, ErrorCode.RATE_LIMITED, "1"),
        ("origin", 403, ErrorCode.FORBIDDEN, None),
    ],
)
def test_the_refusals_as_the_protocol_lists_them(
    name: str, status: int, code: ErrorCode, header: str | None
) -> None:
    """docs/protocol.md: each refusal's status and code; 429 and 503 say when to retry."""
    rejection = REFUSALS[name]()
    assert rejection.status == status
    assert rejection.code is code
    assert error_of(rejection)["code"] == str(code)
    assert retry_after(rejection) == header
    assert (header is not None) == (status in (429, 503))


def test_the_messages_of_the_fixed_refusals() -> None:
    assert error_of(NOT_FOUND)["message"] == "no such endpoint; connect to /ws"
    assert error_of(SHUTTING_DOWN)["message"] == "server is shutting down"
    assert error_of(SESSION_FORBIDDEN)["message"] == "that session belongs to another user"
    assert error_of(STORAGE_UNAVAILABLE)["message"] == "storage is unavailable; try again"
    assert error_of(CLUSTER_UNAVAILABLE)["message"] == "Redis is unavailable; try again"


@pytest.mark.parametrize("status", [429, 503])
def test_a_429_or_503_cannot_be_made_without_saying_when_to_retry(status: int) -> None:
    with pytest.raises(ValueError, match="says when to retry"):
        Rejection(status, ErrorCode.RATE_LIMITED, "no")


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_no_refusal_says_retry_in_zero_seconds(name: str) -> None:
    message = error_of(REFUSALS[name]())["message"]
    assert "retry in 0" not in message and "0.0 s" not in message


def test_unauthorized_says_what_is_wrong_with_the_credentials() -> None:
    assert error_of(unauthorized("token has expired"))["message"] == "token has expired"


def test_too_many_connections_names_the_limit() -> None:
    rejection = too_many_connections(7)
    assert error_of(rejection)["message"] == "user already has 7 connections, the most allowed"
    assert rejection.retry_after_s == 1.0


@pytest.mark.parametrize(
    ("wait", "seconds"),
    [(0.0, 1), (0.1, 1), (1.0, 1), (1.2, 2), (9.99, 10)],
)
def test_a_handshake_rate_refusal_says_when_to_retry(wait: float, seconds: int) -> None:
    rejection = handshake_rate(wait)
    message = error_of(rejection)["message"]
    assert message == f"too many handshakes from this address; retry in {seconds} s"
    assert retry_after(rejection) == str(seconds)  # the message and the header agree
    assert rejection.retry_after_s == wait


# -- Target and check_request ----------------------------------------------------------------------


def test_the_endpoint_is_slash_ws() -> None:
    assert WS_PATH == "/ws"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/ws", Target("/ws", None, False)),
        ("/ws?", Target("/ws", None, False)),
        ("/ws?session_id=abc", Target("/ws", "abc", False)),
        ("/ws?batch=1", Target("/ws", None, True)),
        ("/ws?batch=true", Target("/ws", None, True)),
        ("/ws?session_id=s-1&batch=1", Target("/ws", "s-1", True)),
        ("/ws?batch=true&session_id=s%2F2", Target("/ws", "s/2", True)),
        ("/other?session_id=abc", Target("/other", "abc", False)),
        ("/ws/?batch=1", Target("/ws/", None, True)),
    ],
)
def test_parse_target(raw: str, expected: Target) -> None:
    assert parse_target(raw) == expected


@pytest.mark.parametrize("value", ["0", "false", "", "yes", "2", "on"])
def test_batch_is_on_only_for_1_and_true(value: str) -> None:
    assert parse_target(f"/ws?batch={value}").batch is False


@pytest.mark.parametrize("raw", ["/ws?session_id=", "/ws?session_id", "/ws?session_id=&batch=1"])
def test_a_blank_session_id_is_no_session(raw: str) -> None:
    assert parse_target(raw).session_id is None


def test_the_first_of_repeated_parameters_counts() -> None:
    assert parse_target("/ws?session_id=a&session_id=b").session_id == "a"
    assert parse_target("/ws?batch=1&batch=0").batch is True
    assert parse_target("/ws?batch=0&batch=1").batch is False
    # a blank first value counts too: it is not skipped for a later one
    assert parse_target("/ws?session_id=&session_id=b").session_id is None
    assert parse_target("/ws?batch=&batch=1").batch is False


def test_unknown_parameters_are_ignored() -> None:
    assert parse_target("/ws?token=x&session_id=s&v=2") == Target("/ws", "s", False)


@pytest.mark.parametrize("path", ["/", "/ws/", "/WS", "/wss", "/api/ws", ""])
def test_a_path_other_than_ws_is_not_found(path: str) -> None:
    target = Target(path, None, False)
    assert check_request(target, accepting=True) is NOT_FOUND
    assert check_request(target, accepting=False) is NOT_FOUND  # the path is checked first


def test_a_server_that_no_longer_accepts_refuses_the_endpoint() -> None:
    assert check_request(parse_target("/ws?session_id=s"), accepting=False) is SHUTTING_DOWN


def test_the_endpoint_is_let_through_while_accepting() -> None:
    assert check_request(parse_target("/ws"), accepting=True) is None
    assert check_request(parse_target("/ws?session_id=s&batch=1"), accepting=True) is None


# -- HandshakeLimiter ------------------------------------------------------------------------------


def test_the_default_bound_on_tracked_addresses() -> None:
    assert MAX_TRACKED_ADDRESSES == 4096
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=1)
    for i in range(MAX_TRACKED_ADDRESSES):
        assert limiter.take(f"10.0.{i // 256}.{i % 256}", 0.0) is None
    assert len(limiter) == MAX_TRACKED_ADDRESSES
    # at the bound, with every bucket full again: all are forgotten for the new one
    assert limiter.take("192.0.2.1", 1.0) is None
    assert len(limiter) == 1


def test_an_address_has_its_burst_then_waits() -> None:
    limiter = HandshakeLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.take("198.51.100.7", 0.0) for _ in range(3)] == [None] * 3
    refusal = limiter.take("198.51.100.7", 0.0)
    assert refusal == handshake_rate(0.5)
    assert refusal is not None and retry_after(refusal) == "1"


def test_an_address_refills_at_the_rate() -> None:
    limiter = HandshakeLimiter(rate_per_s=2.0, burst=2)
    assert limiter.take("a", 10.0) is None
    assert limiter.take("a", 10.0) is None
    assert limiter.take("a", 10.25) == handshake_rate(0.25)
    assert limiter.take("a", 10.5) is None  # one token came back
    assert limiter.take("a", 10.5) == handshake_rate(0.5)
    assert limiter.take("a", 1000.0) is None  # refilled up to the burst only
    assert limiter.take("a", 1000.0) is None
    assert limiter.take("a", 1000.0) == handshake_rate(0.5)


def test_addresses_are_limited_apart() -> None:
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=1)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("a", 0.0) is not None
    assert limiter.take("b", 0.0) is None
    assert len(limiter) == 2


def test_a_new_address_gets_a_full_burst_whatever_the_clock_reads() -> None:
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=2)
    assert limiter.take("a", -500.0) is None
    assert limiter.take("a", -500.0) is None
    assert limiter.take("a", -500.0) == handshake_rate(1.0)


def test_below_the_bound_no_address_is_forgotten() -> None:
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=1, max_addresses=3)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("b", 0.0) is None
    # "a" and "b" are full again at 5 s, but the table is not at its bound yet
    assert limiter.take("c", 5.0) is None
    assert len(limiter) == 3


def test_at_the_bound_the_full_buckets_are_forgotten() -> None:
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=2, max_addresses=3)
    assert limiter.take("old", 0.0) is None  # full again at 1 s
    assert limiter.take("busy", 0.5) is None
    assert limiter.take("busy", 0.5) is None  # empty until 2.5 s
    assert limiter.take("new", 0.9) is None
    assert len(limiter) == 3
    # a fourth address at 1.0 s: only "old" is full again, and only it goes
    assert limiter.take("fourth", 1.0) is None
    assert len(limiter) == 3
    assert limiter.take("busy", 1.0) == handshake_rate(0.5)  # "busy" kept its state


def test_a_bucket_exactly_full_again_is_forgotten() -> None:
    limiter = HandshakeLimiter(rate_per_s=2.0, burst=1, max_addresses=1)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("b", 0.5) is None  # "a" refilled at exactly 0.5 s
    assert len(limiter) == 1
    # "a" was forgotten: it comes back with a full burst of its own
    assert limiter.take("a", 0.5) is None


def test_a_bucket_not_quite_full_is_kept() -> None:
    limiter = HandshakeLimiter(rate_per_s=2.0, burst=1, max_addresses=1)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("b", 0.49) is None
    assert len(limiter) == 2
    assert limiter.take("a", 0.49) is not None  # its limit still holds


def test_at_the_bound_without_full_buckets_nobody_is_forgotten() -> None:
    """Forgetting a bucket that is not full would give that address a fresh
    burst; so when none is full, the new address is tracked in addition
    (the table passes the bound until the buckets refill), and the next sweep
    waits until the table has doubled."""
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=1, max_addresses=2)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("b", 0.0) is None
    assert limiter.take("c", 0.5) is None  # a sweep that frees nothing
    assert len(limiter) == 3
    assert limiter.take("a", 0.5) == handshake_rate(0.5)
    assert limiter.take("b", 0.5) == handshake_rate(0.5)
    assert limiter.take("d", 2.0) is None  # 3 of the 4 it waits for: no sweep
    assert len(limiter) == 4
    # at twice the table the sweep found: a, b and c are full again and go
    assert limiter.take("e", 2.0) is None
    assert len(limiter) == 2
    assert limiter.take("d", 2.0) == handshake_rate(1.0)  # d's own limit still holds


def test_a_flood_of_new_addresses_sweeps_the_table_rarely() -> None:
    """Addresses that never refill while the flood lasts: the table grows, and
    each new address costs O(1) sweeps' work on average, not a scan per address."""
    limiter = HandshakeLimiter(rate_per_s=0.001, burst=1, max_addresses=8)
    sweeps = 0
    for n in range(1000):
        before = limiter._sweep_at
        assert limiter.take(f"10.0.{n // 256}.{n % 256}", float(n) * 0.001) is None
        sweeps += limiter._sweep_at != before
    assert len(limiter) == 1000
    assert sweeps <= 8  # the threshold doubles: log2(1000 / 8) + 1 sweeps


def test_a_known_address_never_sweeps_the_table() -> None:
    limiter = HandshakeLimiter(rate_per_s=1.0, burst=1, max_addresses=2)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("b", 0.0) is None
    assert limiter.take("a", 5.0) is None  # known: "b" (full by now) stays
    assert len(limiter) == 2


@settings(max_examples=200, deadline=None)
@given(
    rate_per_s=st.floats(0.5, 20.0),
    burst=st.integers(1, 10),
    gaps=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
)
def test_one_address_never_passes_more_than_the_burst_plus_the_refill(
    rate_per_s: float, burst: int, gaps: list[float]
) -> None:
    limiter = HandshakeLimiter(rate_per_s, burst, max_addresses=1)
    now, admitted = 50.0, 0
    for gap in gaps:
        now += gap
        # another address arrives now and then, so the table is swept
        limiter.take("bystander", now)
        refusal = limiter.take("a", now)
        if refusal is None:
            admitted += 1
        else:
            assert refusal.status == 429
            assert refusal.retry_after_s is not None
            assert 0.0 < refusal.retry_after_s <= 1.0 / rate_per_s + 1e-9
        assert admitted <= burst + rate_per_s * (now - 50.0) + 1e-6


@settings(max_examples=200, deadline=None)
@given(seconds=st.floats(0.0, 1e5))
def test_the_handshake_rate_message_and_header_agree(seconds: float) -> None:
    rejection = handshake_rate(seconds)
    header = retry_after(rejection)
    assert header == str(max(1, math.ceil(seconds)))
    assert error_of(rejection)["message"].endswith(f"retry in {header} s")


# -- InProgress ------------------------------------------------------------------------------------


def test_handshakes_in_progress_are_capped_per_key() -> None:
    in_progress = InProgress(2)
    assert in_progress.enter("a") and in_progress.enter("a")
    assert not in_progress.enter("a")  # at the cap: refused, and not counted
    assert in_progress.enter("b")
    in_progress.leave("a")
    assert in_progress.enter("a")
    for key in ("a", "a", "b"):
        in_progress.leave(key)
    assert len(in_progress) == 0  # nothing kept for an address with none in progress


# -- HandshakeGate ---------------------------------------------------------------------------------


def gate(burst: int = 2) -> HandshakeGate:
    return HandshakeGate(
        rate_per_s=1.0,
        burst=burst,
        trusted_proxies=TrustedProxies(["10.0.0.0/8"]),
        origins=OriginPolicy(["https://app.example.com"]),
    )


def test_the_gate_counts_a_trusted_proxy_under_no_key() -> None:
    assert gate().in_progress_key("10.1.1.1") is None
    assert gate().in_progress_key("203.0.113.9") == "203.0.113.9"
    assert gate().in_progress_key("2001:db8:0:1::5") == "2001:db8:0:1::/64"


def test_the_gate_checks_the_path_the_state_the_rate_then_the_origin() -> None:
    the_gate = gate()
    ws = parse_target("/ws")
    bad_origin = [(b"origin", b"https://evil.example")]
    assert the_gate.screen(parse_target("/x"), [], "a", accepting=True, now=0) is NOT_FOUND
    assert the_gate.screen(ws, [], "a", accepting=False, now=0) is SHUTTING_DOWN
    # a refused origin still spends the address's handshake budget
    assert the_gate.screen(ws, bad_origin, "a", accepting=True, now=0) is ORIGIN_FORBIDDEN
    assert the_gate.screen(ws, [], "a", accepting=True, now=0) is None
    refused = the_gate.screen(ws, [], "a", accepting=True, now=0)
    assert refused is not None and refused.code is ErrorCode.RATE_LIMITED
    assert the_gate.screen(ws, [], "b", accepting=True, now=0) is None  # its own budget


def test_the_gate_rates_an_ipv6_host_by_its_64_network() -> None:
    the_gate = gate(burst=1)
    ws = parse_target("/ws")
    assert the_gate.screen(ws, [], "2001:db8:0:1::1", accepting=True, now=0) is None
    assert the_gate.screen(ws, [], "2001:db8:0:1::2", accepting=True, now=0) is not None
    assert the_gate.screen(ws, [], "2001:db8:0:2::1", accepting=True, now=0) is None


def test_the_gate_takes_the_client_address_from_a_trusted_proxy_only() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.9")]
    assert gate().client_address("10.0.0.1", headers) == "203.0.113.9"
    assert gate().client_address("198.51.100.1", headers) == "198.51.100.1"
