"""The connection state machine: every legal and every illegal transition."""

from __future__ import annotations

import itertools

import pytest

from netra_trio.core.states import ConnState, IllegalTransition, transition

OPEN, DRAINING, CLOSING, CLOSED = (
    ConnState.OPEN,
    ConnState.DRAINING,
    ConnState.CLOSING,
    ConnState.CLOSED,
)

# Written out by hand from the module's contract, not read from TRANSITIONS.
LEGAL = {
    (OPEN, DRAINING),
    (OPEN, CLOSING),
    (OPEN, CLOSED),
    (DRAINING, CLOSING),
    (DRAINING, CLOSED),
    (CLOSING, CLOSED),
}
ALL_PAIRS = list(itertools.product(ConnState, repeat=2))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_the_states() -> None:
    assert set(ConnState) == {OPEN, DRAINING, CLOSING, CLOSED}


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL, key=str))
def test_legal_transition_returns_the_target(current: ConnState, target: ConnState) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transition_raises_naming_both_states(
    current: ConnState, target: ConnState
) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(current, target)
    assert str(info.value) == f"{current.value} -> {target.value}"


def test_every_pair_is_covered() -> None:
    assert len(LEGAL) + len(ILLEGAL) == 16
    assert len(ILLEGAL) == 10


def test_closed_is_terminal_and_nothing_returns_to_open() -> None:
    for state in ConnState:
        with pytest.raises(IllegalTransition):
            transition(CLOSED, state)
        with pytest.raises(IllegalTransition):
            transition(state, OPEN)


def test_illegal_transition_is_a_runtime_error() -> None:
    assert issubclass(IllegalTransition, RuntimeError)


def test_a_full_draining_close() -> None:
    state = OPEN
    for target in (DRAINING, CLOSING, CLOSED):
        state = transition(state, target)
    assert state is CLOSED
