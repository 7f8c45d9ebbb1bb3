"""KeyRefreshPolicy: when the key set is used, fetched again, or missing."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from netra_trio.core.key_refresh import KeyDecision, KeyRefreshPolicy

USE, FETCH, UNKNOWN, UNAVAILABLE = (
    KeyDecision.USE,
    KeyDecision.FETCH,
    KeyDecision.UNKNOWN,
    KeyDecision.UNAVAILABLE,
)


def fetched_at(
    now: float, max_age_s: float = 300.0, min_interval_s: float = 10.0
) -> KeyRefreshPolicy:
    policy = KeyRefreshPolicy(max_age_s, min_interval_s)
    policy.fetching(now)
    policy.fetched(now)
    return policy


def test_the_first_token_fetches_whatever_its_kid() -> None:
    policy = KeyRefreshPolicy(300.0, 10.0)
    assert policy.decide(0.0, known=False) is FETCH


def test_a_known_key_of_a_fresh_set_is_used() -> None:
    policy = fetched_at(100.0)
    assert policy.decide(100.0, known=True) is USE
    assert policy.decide(399.9, known=True) is USE


def test_an_old_set_is_fetched_again_then_used_while_fetching_is_not_allowed() -> None:
    policy = fetched_at(100.0)
    assert policy.decide(400.0, known=True) is FETCH
    policy.fetching(400.0)  # and it fails
    assert policy.decide(400.0, known=True) is USE  # the old key still serves
    assert policy.decide(409.9, known=True) is USE
    assert policy.decide(410.0, known=True) is FETCH


def test_an_unknown_kid_fetches_at_most_once_per_interval() -> None:
    policy = fetched_at(100.0)
    assert policy.decide(105.0, known=False) is UNKNOWN  # fetched 5 s ago
    assert policy.decide(110.0, known=False) is FETCH
    policy.fetching(110.0)
    policy.fetched(110.5)
    for now in (110.5, 111.0, 119.9):
        assert policy.decide(now, known=False) is UNKNOWN
    assert policy.decide(120.0, known=False) is FETCH


def test_unknown_kids_are_unavailable_after_a_failed_fetch_or_before_any() -> None:
    policy = KeyRefreshPolicy(300.0, 10.0)
    policy.fetching(0.0)  # never finishes (cancelled) or fails
    assert policy.decide(1.0, known=False) is UNAVAILABLE
    assert policy.after_fetch(known=False) is UNAVAILABLE
    assert policy.decide(10.0, known=False) is FETCH
    policy.fetching(10.0)
    policy.fetched(10.0)
    assert policy.after_fetch(known=False) is UNKNOWN
    assert policy.after_fetch(known=True) is USE
    policy.fetching(20.0)  # a later failure: the old set stays, but cannot judge new kids
    assert policy.after_fetch(known=True) is USE
    assert policy.decide(25.0, known=False) is UNAVAILABLE


@given(
    st.lists(
        st.tuples(st.floats(0.0, 5.0, allow_nan=False), st.booleans(), st.booleans()),
        max_size=200,
    )
)
def test_fetches_are_never_closer_than_the_interval(
    steps: list[tuple[float, bool, bool]],
) -> None:
    policy = KeyRefreshPolicy(max_age_s=30.0, min_interval_s=10.0)
    now, fetches = 0.0, []
    for gap, known, succeeds in steps:
        now += gap
        if policy.decide(now, known) is FETCH:
            fetches.append(now)
            policy.fetching(now)
            if succeeds:
                policy.fetched(now)
            assert policy.after_fetch(known) is not FETCH
    assert all(b - a >= 10.0 for a, b in itertools.pairwise(fetches))
