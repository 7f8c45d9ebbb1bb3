"""The budget of low-value work per round of the event loop, on a real trio run."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from netra_trio.server.round_budget import RoundBudget


async def _ticker(ticks: list[int]) -> None:
    """Counts rounds of the loop: one step per round."""
    while True:
        ticks[0] += 1
        await trio.lowlevel.checkpoint()


async def test_admissions_within_the_budget_do_not_yield() -> None:
    budget = RoundBudget(per_round=5)
    ticks = [0]
    async with trio.open_nursery() as nursery:
        await nursery.start(budget.run)
        nursery.start_soon(_ticker, ticks)
        await trio.lowlevel.checkpoint()
        before = ticks[0]
        for _ in range(5):
            await budget.admit()
        assert ticks[0] == before  # no other task ran in between
        nursery.cancel_scope.cancel()


async def test_a_flood_is_let_through_a_few_a_round_in_arrival_order() -> None:
    per_round, flood = 4, 60
    budget = RoundBudget(per_round=per_round)
    ticks = [0]
    admitted: list[tuple[int, int]] = []  # (who, the round it got through in)
    all_through = trio.Event()

    async def worker(who: int, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()  # not a checkpoint: admit() follows before start() returns
        await budget.admit()
        admitted.append((who, ticks[0]))
        if len(admitted) == flood:
            all_through.set()

    async with trio.open_nursery() as nursery:
        for who in range(flood):  # they arrive in this order, all before run() starts
            await nursery.start(worker, who)
        assert len(admitted) == per_round
        nursery.start_soon(_ticker, ticks)
        await nursery.start(budget.run)
        with trio.fail_after(5):
            await all_through.wait()
        nursery.cancel_scope.cancel()

    assert sorted(who for who, _ in admitted) == list(range(flood))  # nobody lost
    # first come, first served, round by round (within a round trio runs the tasks
    # it woke in no promised order)
    assert max(abs(place - who) for place, (who, _) in enumerate(admitted)) < 2 * per_round
    per_tick: dict[int, int] = {}
    for _, tick in admitted:
        per_tick[tick] = per_tick.get(tick, 0) + 1
    # the ticker and the budget each take one step a round, in no promised order
    assert max(per_tick.values()) <= 2 * per_round
    assert budget.rounds >= (flood - per_round) // per_round


async def test_a_waiter_can_be_cancelled_and_the_others_still_get_through() -> None:
    budget = RoundBudget(per_round=1)
    await budget.admit()  # the budget of this round is spent, run() not started yet
    got_through: list[str] = []
    through = trio.Event()

    async def waiter(name: str) -> None:
        await budget.admit()
        got_through.append(name)
        through.set()

    async with trio.open_nursery() as nursery:
        with trio.CancelScope() as gives_up:
            nursery.start_soon(waiter, "a")
            await trio.testing.wait_all_tasks_blocked()
            cancelled = False
            try:
                with trio.move_on_after(0.01) as timeout:
                    await budget.admit()
            finally:
                cancelled = timeout.cancelled_caught
        assert cancelled and not gives_up.cancelled_caught
        assert got_through == []  # nothing lets waiters through until run() runs
        await nursery.start(budget.run)
        with trio.fail_after(5):
            await through.wait()
        assert got_through == ["a"]
        nursery.cancel_scope.cancel()


async def test_when_run_ends_every_waiter_goes_and_nobody_waits_after() -> None:
    budget = RoundBudget(per_round=1)
    await budget.admit()
    got_through = 0

    async def waiter() -> None:
        nonlocal got_through
        await budget.admit()
        got_through += 1

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert got_through == 0
        with trio.CancelScope() as scope:
            scope.cancel()
            await budget.run()  # ends at its first checkpoint
    assert got_through == 3
    with trio.fail_after(1):
        for _ in range(10):
            await budget.admit()


def test_the_budget_must_admit_something() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RoundBudget(per_round=0)
