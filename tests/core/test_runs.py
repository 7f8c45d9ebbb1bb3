"""RunAdmission: one active run per thread, at most ``max_runs_per_user`` per user."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netra_trio.core.runs import RunAdmission, RunRefusal

BUSY, AT_LIMIT = RunRefusal.THREAD_BUSY, RunRefusal.USER_AT_LIMIT


def test_the_refusals() -> None:
    assert [r.value for r in RunRefusal] == ["thread_busy", "user_at_limit"]


def test_a_user_without_runs_may_start_one() -> None:
    admission = RunAdmission(max_runs_per_user=3)
    assert admission.check([], "t1") is None
    assert admission.check([], None) is None


@pytest.mark.parametrize(
    ("busy", "limit", "expected"),
    [
        ([], 1, None),
        (["a"], 1, AT_LIMIT),
        (["a", "b"], 3, None),
        (["a", "b", "c"], 3, AT_LIMIT),
        (["a", "b", "c", "d"], 3, AT_LIMIT),  # past the limit (the limit was lowered)
    ],
)
def test_the_user_limit_is_reached_at_exactly_max_runs(
    busy: list[str | None], limit: int, expected: RunRefusal | None
) -> None:
    assert RunAdmission(limit).check(busy, "new") is expected


def test_a_busy_thread_refuses_a_second_run_on_it() -> None:
    admission = RunAdmission(max_runs_per_user=3)
    assert admission.check(["t1"], "t1") is BUSY
    assert admission.check(["t1"], "t2") is None


def test_a_busy_thread_is_reported_before_the_user_limit() -> None:
    admission = RunAdmission(max_runs_per_user=2)
    assert admission.check(["t1", "t2"], "t1") is BUSY
    assert admission.check(["t1", "t2"], "t3") is AT_LIMIT


def test_admitted_runs_without_a_thread_yet_count_towards_the_limit() -> None:
    admission = RunAdmission(max_runs_per_user=2)
    assert admission.check([None], "t1") is None
    assert admission.check([None, None], "t1") is AT_LIMIT
    assert admission.check([None, "t2"], None) is AT_LIMIT


def test_a_run_on_a_new_thread_is_never_thread_busy() -> None:
    # None names a thread not made yet: two such runs are on different threads
    admission = RunAdmission(max_runs_per_user=5)
    assert admission.check([None], None) is None
    assert admission.check([None, None, "t1"], None) is None


def test_the_busy_threads_may_be_any_collection() -> None:
    admission = RunAdmission(max_runs_per_user=3)
    assert admission.check({"t1", "t2"}, "t1") is BUSY
    assert admission.check(("t1", "t2"), "t3") is None
    assert admission.check(frozenset({"t1", "t2", "t3"}), "t4") is AT_LIMIT


@settings(max_examples=300, deadline=None)
@given(
    busy=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), max_size=8),
    thread=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"])),
    limit=st.integers(1, 6),
)
def test_admission_agrees_with_its_two_rules(
    busy: list[str | None], thread: str | None, limit: int
) -> None:
    refusal = RunAdmission(limit).check(busy, thread)
    if thread is not None and thread in busy:
        assert refusal is BUSY
    elif len(busy) >= limit:
        assert refusal is AT_LIMIT
    else:
        assert refusal is None
