"""A token's expiry read from the JWT, and when to refresh it."""

from __future__ import annotations

import base64

import jwt
import pytest

from netra_trio.client.core.tokens import RETRY_AFTER_S, TokenClock, token_expiry


def token(exp: object) -> str:
    return jwt.encode({"sub": "alice", "exp": exp}, "k" * 32, algorithm="HS256")


def unsigned(claims: bytes) -> str:
    body = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2ln"


def test_the_expiry_is_the_exp_claim() -> None:
    assert token_expiry(token(1_000)) == 1_000.0
    assert token_expiry(unsigned(b'{"exp": 1000.5}')) == 1000.5


@pytest.mark.parametrize(
    "text",
    [
        "opaque-token",
        "a.b",
        "a.!!!.c",  # not base64
        unsigned(b"not json"),
        unsigned(b"[1, 2]"),
        unsigned(b'{"sub": "alice"}'),
        unsigned(b'{"exp": "1000"}'),
        unsigned(b'{"exp": true}'),
        unsigned(b'{"exp": Infinity}'),
        unsigned(b'{"exp": NaN}'),
        unsigned(b"\xff\xfe"),
    ],
)
def test_a_token_without_a_readable_exp_has_no_expiry(text: str) -> None:
    assert token_expiry(text) is None


def test_a_long_lived_token_is_refreshed_a_minute_before_its_exp() -> None:
    clock = TokenClock(token(10_000), obtained_at=1_000)
    assert clock.refresh_at() == 10_000 - 60
    assert not clock.due(9_939)
    assert clock.due(9_940)
    assert not clock.expired(9_999)
    assert clock.expired(10_000)


def test_a_short_lived_token_is_refreshed_a_third_of_its_life_before_exp() -> None:
    clock = TokenClock(token(1_030), obtained_at=1_000)
    assert clock.margin() == 10
    assert clock.refresh_at() == 1_020


def test_a_token_obtained_after_its_exp_is_due_at_once() -> None:
    clock = TokenClock(token(1_000), obtained_at=1_500)
    assert clock.margin() == 0
    assert clock.due(1_500)


def test_without_a_margin_nothing_is_refreshed_but_a_token_still_comes_due() -> None:
    clock = TokenClock(token(10_000), obtained_at=1_000, refresh_margin_s=None)
    assert clock.refresh_at() is None
    assert clock.due(9_940)  # before a reconnect: get a new one


def test_an_opaque_token_is_never_due() -> None:
    clock = TokenClock("opaque", obtained_at=1_000)
    assert clock.refresh_at() is None
    assert clock.margin() == 0
    assert not clock.due(10**12)
    assert not clock.expired(10**12)


def test_a_refreshed_token_moves_the_next_refresh() -> None:
    clock = TokenClock(token(2_000), obtained_at=1_000)
    clock.refreshed(token(5_000), expires_at=5_000, now=1_950)
    assert clock.expires_at == 5_000
    assert clock.refresh_at() == 5_000 - 60


def test_the_expiry_the_server_confirms_wins_over_the_claim() -> None:
    clock = TokenClock(token(2_000), obtained_at=1_000)
    clock.refreshed(token(5_000), expires_at=4_000, now=1_950)
    assert clock.expires_at == 4_000


def test_a_refresh_that_does_not_move_the_expiry_is_tried_again_later() -> None:
    clock = TokenClock(token(2_000), obtained_at=1_000)
    clock.refreshed(token(2_000), expires_at=2_000, now=1_940)
    assert clock.refresh_at() == 1_940 + RETRY_AFTER_S


def test_a_failed_refresh_is_tried_again_sooner_when_the_token_ends_sooner() -> None:
    clock = TokenClock(token(2_000), obtained_at=1_000)
    clock.refresh_failed(now=1_940)
    assert clock.refresh_at() == 1_940 + RETRY_AFTER_S
    clock.refresh_failed(now=1_996)
    assert clock.refresh_at() == 1_998
    clock.refresh_failed(now=1_999.9)
    assert clock.refresh_at() == pytest.approx(2_000.4)  # never in a tight loop


def test_an_opaque_token_is_never_refreshed_even_after_a_failure() -> None:
    clock = TokenClock("opaque", obtained_at=1_000)
    clock.refresh_failed(now=1_000)
    assert clock.refresh_at() is None


def test_a_new_token_from_the_provider_clears_the_retry() -> None:
    clock = TokenClock(token(2_000), obtained_at=1_000)
    clock.refresh_failed(now=1_990)
    clock.replace(token(9_000), now=2_100)
    assert clock.refresh_at() == 9_000 - 60


def test_the_token_is_not_in_the_repr() -> None:
    text = token(2_000)
    assert text not in repr(TokenClock(text, obtained_at=1_000))
