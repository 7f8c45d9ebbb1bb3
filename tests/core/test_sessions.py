"""SessionPolicy: when an idle session expires, and which sessions make room for a new one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.sessions import SessionPolicy, SessionView

POLICY = SessionPolicy(idle_timeout_s=1800.0, max_per_user=3)


def idle(session_id: str, last_active: float) -> SessionView:
    return SessionView(session_id, last_active, attached=False)


def live(session_id: str, last_active: float) -> SessionView:
    return SessionView(session_id, last_active, attached=True)


def test_five_sessions_per_user_by_default() -> None:
    assert SessionPolicy(idle_timeout_s=60.0).max_per_user == 5


def test_a_session_expires_idle_timeout_after_its_last_activity() -> None:
    assert POLICY.expires_at(1000.0) == 2800.0


def test_an_idle_session_expires_at_exactly_the_timeout() -> None:
    assert not POLICY.is_expired(2799.9, last_active=1000.0, attached=False)
    assert POLICY.is_expired(2800.0, last_active=1000.0, attached=False)
    assert POLICY.is_expired(9999.0, last_active=1000.0, attached=False)


def test_an_attached_session_never_expires() -> None:
    assert not POLICY.is_expired(2800.0, last_active=1000.0, attached=True)
    assert not POLICY.is_expired(1e9, last_active=1000.0, attached=True)


def test_room_is_there_below_the_limit() -> None:
    assert POLICY.to_make_room([], now=0.0) == []
    assert POLICY.to_make_room([idle("a", 10.0), idle("b", 20.0)], now=30.0) == []


def test_at_the_limit_the_oldest_idle_session_makes_room() -> None:
    sessions = [idle("b", 20.0), idle("a", 10.0), idle("c", 30.0)]
    assert POLICY.to_make_room(sessions, now=40.0) == ["a"]


def test_over_the_limit_enough_idle_sessions_make_room() -> None:
    # the limit was lowered: make room for one more at three
    sessions = [idle("d", 40.0), idle("b", 20.0), idle("a", 10.0), idle("c", 30.0)]
    assert POLICY.to_make_room(sessions, now=50.0) == ["a", "b"]


def test_attached_sessions_stay_even_at_the_limit() -> None:
    sessions = [live("a", 10.0), idle("b", 20.0), live("c", 5.0)]
    assert POLICY.to_make_room(sessions, now=40.0) == ["b"]
    # nothing idle to expire: no room is made (the caller decides what then)
    busy = [live("a", 10.0), live("b", 20.0), live("c", 5.0)]
    assert POLICY.to_make_room(busy, now=40.0) == []


def test_expired_sessions_go_first_and_may_make_the_room() -> None:
    sessions = [idle("old", 0.0), idle("b", 1000.0), idle("c", 1100.0)]
    # at 1800 s "old" has expired: that alone makes room for one more
    assert POLICY.to_make_room(sessions, now=1800.0) == ["old"]


def test_every_expired_session_goes_even_below_the_limit() -> None:
    sessions = [idle("x", 0.0), idle("y", 100.0)]
    assert POLICY.to_make_room(sessions, now=5000.0) == ["x", "y"]
    assert POLICY.to_make_room(sessions, now=1899.0) == ["x"]


def test_expired_then_the_oldest_remaining_idle() -> None:
    policy = SessionPolicy(idle_timeout_s=100.0, max_per_user=3)
    sessions = [idle("e", 0.0), live("l", 0.0), idle("n2", 160.0), idle("n1", 150.0)]
    # "e" expired at 100; the live one stays; one of n1/n2 (the older) makes room
    assert policy.to_make_room(sessions, now=200.0) == ["e", "n1"]


@settings(max_examples=300, deadline=None)
@given(
    views=st.lists(
        st.tuples(st.floats(0.0, 1000.0), st.booleans()),
        max_size=10,
    ),
    now=st.floats(0.0, 2000.0),
    limit=st.integers(1, 6),
)
def test_making_room_leaves_room_when_idle_sessions_allow_it(
    views: list[tuple[float, bool]], now: float, limit: int
) -> None:
    policy = SessionPolicy(idle_timeout_s=500.0, max_per_user=limit)
    sessions = [SessionView(f"s{i}", t, a) for i, (t, a) in enumerate(views)]
    gone = policy.to_make_room(sessions, now)
    assert len(gone) == len(set(gone))
    by_id = {s.session_id: s for s in sessions}
    assert all(not by_id[g].attached for g in gone)  # attached sessions stay
    expired = {s.session_id for s in sessions if policy.is_expired(now, s.last_active, s.attached)}
    assert expired <= set(gone)  # every expired session goes
    remaining = [s for s in sessions if s.session_id not in expired]
    idle_remaining = [s for s in remaining if not s.attached]
    evicted = [by_id[g] for g in gone if g not in expired]
    # room for one more is made, as far as idle sessions allow, and no more
    needed = max(0, len(remaining) - (limit - 1))
    assert len(evicted) == min(needed, len(idle_remaining))
    # oldest first: an idle session that stays is no older than one that went
    kept_idle = [s for s in idle_remaining if s.session_id not in gone]
    if evicted and kept_idle:
        assert max(s.last_active for s in evicted) <= min(s.last_active for s in kept_idle)
