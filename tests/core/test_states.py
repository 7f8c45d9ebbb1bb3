"""The connection lifecycle: every (state, event) pair, and the close code it keeps."""

from __future__ import annotations

import itertools

import pytest

from netra_trio.core.states import (
    TRANSITIONS,
    ConnectionLifecycle,
    ConnEvent,
    ConnState,
    IllegalTransition,
    next_state,
)
from netra_trio.errors import CloseCode

OPEN, DRAINING, CLOSING, CLOSED = ConnState
DRAIN, ABORT, ENDED = ConnEvent

# Written out by hand from the module's contract, not read from TRANSITIONS.
EXPECTED = {
    (OPEN, DRAIN): DRAINING,
    (OPEN, ABORT): CLOSING,
    (OPEN, ENDED): CLOSED,
    (DRAINING, DRAIN): DRAINING,
    (DRAINING, ABORT): CLOSING,
    (DRAINING, ENDED): CLOSED,
    (CLOSING, DRAIN): CLOSING,
    (CLOSING, ABORT): CLOSING,
    (CLOSING, ENDED): CLOSED,
    (CLOSED, DRAIN): CLOSED,
    (CLOSED, ABORT): CLOSED,
}
ILLEGAL = [pair for pair in itertools.product(ConnState, ConnEvent) if pair not in EXPECTED]


def test_the_states_and_events() -> None:
    assert [s.value for s in ConnState] == ["open", "draining", "closing", "closed"]
    assert [e.value for e in ConnEvent] == ["drain", "abort", "ended"]


@pytest.mark.parametrize(("state", "event"), sorted(EXPECTED, key=str))
def test_each_legal_event_leads_where_the_contract_says(state: ConnState, event: ConnEvent) -> None:
    assert next_state(state, event) is EXPECTED[(state, event)]


def test_the_table_is_exactly_the_contract() -> None:
    assert TRANSITIONS == EXPECTED
    assert ILLEGAL == [(CLOSED, ENDED)]


def test_ending_twice_is_illegal_and_says_so() -> None:
    with pytest.raises(IllegalTransition, match="ended in state closed"):
        next_state(CLOSED, ENDED)
    assert issubclass(IllegalTransition, RuntimeError)


def test_nothing_leads_back_to_open_or_out_of_closed() -> None:
    assert all(target is not OPEN for target in EXPECTED.values())
    assert all(EXPECTED[(CLOSED, e)] is CLOSED for e in (DRAIN, ABORT))


def test_a_drain_keeps_the_first_code_and_an_abort_cuts_it_short() -> None:
    life = ConnectionLifecycle()
    assert life.close(CloseCode.GOING_AWAY, "shutdown", drain=True)
    assert life.state is DRAINING
    assert not life.close(CloseCode.POLICY_VIOLATION, "later drain", drain=True)
    assert life.close(CloseCode.EVICTED, "stuck")
    assert life.state is CLOSING
    assert (life.close_code, life.close_reason) == (CloseCode.GOING_AWAY, "shutdown")
    assert not life.close(CloseCode.HEARTBEAT_LOST, "late")
    assert life.process(ENDED) and life.state is CLOSED
    assert not life.close(CloseCode.NORMAL, "after the end")
    assert life.close_code == CloseCode.GOING_AWAY


def test_a_close_by_the_peer_is_recorded_with_its_code() -> None:
    life = ConnectionLifecycle()
    assert life.close(1000, "bye", by_peer=True)
    assert (life.state, life.close_code, life.by_peer) == (CLOSING, 1000, True)
    life.close(4009, "not the peer")
    assert life.by_peer


@pytest.mark.parametrize(
    ("reason", "code", "text"),
    [
        (CloseCode.POLICY_VIOLATION, CloseCode.POLICY_VIOLATION, "token expired"),
        (CloseCode.SESSION_EXPIRED, CloseCode.SESSION_EXPIRED, "idle timeout"),
        (None, CloseCode.INTERNAL_ERROR, "cancelled"),
    ],
)
def test_an_ending_without_a_close_takes_the_expiry_that_fired(
    reason: CloseCode | None, code: CloseCode, text: str
) -> None:
    life = ConnectionLifecycle()
    assert life.ended_by(reason) == code
    assert life.close_reason == text


def test_an_ending_after_a_close_keeps_its_code() -> None:
    life = ConnectionLifecycle()
    life.close(CloseCode.SLOW_CONSUMER, "behind")
    assert life.ended_by(CloseCode.SESSION_EXPIRED) == CloseCode.SLOW_CONSUMER


def test_a_failure_is_an_internal_error_unless_a_code_was_set() -> None:
    life = ConnectionLifecycle()
    life.fail()
    assert (life.close_code, life.close_reason) == (CloseCode.INTERNAL_ERROR, "internal error")
    other = ConnectionLifecycle()
    other.close(CloseCode.GOING_AWAY, "shutdown", drain=True)
    other.fail()
    assert other.close_code == CloseCode.GOING_AWAY


def test_a_close_is_by_the_server_unless_said_otherwise() -> None:
    life = ConnectionLifecycle()
    assert life.close(CloseCode.EVICTED, "evicted")
    assert life.by_peer is False


def test_a_close_after_the_end_records_nothing() -> None:
    life = ConnectionLifecycle()
    assert life.process(ENDED)  # the transport went away before anyone asked to close
    assert not life.close(CloseCode.NORMAL, "too late", by_peer=True)
    assert (life.close_code, life.close_reason, life.by_peer) == (None, "", False)
    assert life.ended_by(None) == CloseCode.INTERNAL_ERROR
