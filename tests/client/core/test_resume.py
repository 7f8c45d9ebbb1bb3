"""Each seq delivered once, in order: what to resume from and what to drop."""

from __future__ import annotations

from netra_trio.client.core.resume import ResumeTracker


def test_a_first_connection_resumes_nothing_and_delivers_what_comes() -> None:
    tracker = ResumeTracker()
    tracker.connected(server_time=100.0)
    assert tracker.resume_from(first_connection=True) is None
    assert [tracker.accept(seq, 100.5) for seq in (3, 4, 6)] == [True, True, True]
    assert tracker.last_seq == 6


def test_a_reconnect_resumes_from_the_highest_seq_and_drops_what_was_seen() -> None:
    tracker = ResumeTracker()
    tracker.connected(100.0)
    for seq in (1, 2, 3):
        tracker.accept(seq, 101.0)
    assert tracker.resume_from(first_connection=False) == 3
    # the replay, then a live event that raced it
    assert [tracker.accept(seq, 101.0) for seq in (2, 3, 4, 5, 5, 4)] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    assert tracker.last_seq == 5


def test_a_seq_given_at_start_is_resumed_from_on_the_first_connection() -> None:
    tracker = ResumeTracker(last_seq=40)
    assert tracker.resume_from(first_connection=True) == 40
    assert not tracker.accept(40, None)
    assert tracker.accept(41, None)


def test_a_reconnect_before_any_event_replays_from_0_and_keeps_what_came_after_connecting() -> None:
    tracker = ResumeTracker()
    tracker.connected(server_time=100.0)
    tracker.connected(server_time=200.0)  # a later connection does not move the start
    assert tracker.connected_since == 100.0
    assert tracker.resume_from(first_connection=False) == 0
    assert not tracker.accept(6, 98.0)  # before this client connected
    assert not tracker.accept(7, 99.0)
    assert tracker.accept(8, 100.0)
    assert tracker.accept(9, 50.0)  # the start is known now: by seq only
    assert tracker.last_seq == 9


def test_an_event_without_a_timestamp_is_kept_in_a_replay_from_0() -> None:
    tracker = ResumeTracker()
    tracker.connected(100.0)
    tracker.resume_from(first_connection=False)
    assert tracker.accept(1, None)


def test_resume_complete_ends_the_replay_and_counts_gaps() -> None:
    tracker = ResumeTracker()
    tracker.connected(100.0)
    tracker.resume_from(first_connection=False)
    tracker.resumed(gap=False)
    assert tracker.accept(1, 10.0)  # a live event, however it is stamped
    tracker.resumed(gap=True)
    tracker.resumed(gap=True)
    assert tracker.gaps == 2
