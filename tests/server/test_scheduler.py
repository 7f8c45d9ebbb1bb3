"""The Trio scheduler wrapper: waiting receive, drain-on-close, wake-ups, push results."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from netra_trio.core.priority import Priority, PushResult, QueueBounds
from netra_trio.server.scheduler import FrameScheduler, OutboundFrame


def frame(text: str, priority: Priority, key: str | None = None) -> OutboundFrame:
    return OutboundFrame("alice", text, priority, key)


async def _one(scheduler: FrameScheduler) -> OutboundFrame:
    """The next frame (a budget of one byte takes exactly one)."""
    (taken,) = await scheduler.receive_some(1)
    return taken


async def test_receive_waits_then_yields_in_priority_order() -> None:
    scheduler = FrameScheduler(QueueBounds(16, 4096))
    got: list[str] = []

    async def consume() -> None:
        for _ in range(4):
            got.append((await _one(scheduler)).text)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        assert scheduler.receiver_waiting
        # all four arrive while the consumer sleeps: it must take them by priority
        for text, priority in [
            ("low", Priority.LOW),
            ("normal", Priority.NORMAL),
            ("high", Priority.HIGH),
            ("critical", Priority.CRITICAL),
        ]:
            scheduler.send_nowait(frame(text, priority))
    # the consumer only runs after all four are queued, so it takes them by priority
    assert got == ["critical", "high", "normal", "low"]


async def test_close_drains_then_ends() -> None:
    scheduler = FrameScheduler(QueueBounds(16, 4096))
    scheduler.send_nowait(frame("a", Priority.HIGH))
    scheduler.send_nowait(frame("b", Priority.HIGH))
    scheduler.close()
    with pytest.raises(trio.ClosedResourceError):
        scheduler.send_nowait(frame("c", Priority.HIGH))
    assert (await _one(scheduler)).text == "a"
    assert (await _one(scheduler)).text == "b"
    with pytest.raises(trio.EndOfChannel):
        await _one(scheduler)


async def test_close_wakes_a_waiting_receiver() -> None:
    scheduler = FrameScheduler(QueueBounds(16, 4096))
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:

            async def wait() -> None:
                with pytest.raises(trio.EndOfChannel):
                    await _one(scheduler)

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            scheduler.close()


async def test_overflow_and_shedding_are_reported() -> None:
    scheduler = FrameScheduler(QueueBounds(2, 4096))
    assert scheduler.send_nowait(frame("t1", Priority.LOW, "typing")) is PushResult.QUEUED
    assert scheduler.send_nowait(frame("t2", Priority.LOW, "typing")) is PushResult.COALESCED
    assert scheduler.send_nowait(frame("c1", Priority.CRITICAL)) is PushResult.QUEUED
    assert scheduler.send_nowait(frame("c2", Priority.CRITICAL)) is PushResult.QUEUED  # sheds t2
    assert scheduler.send_nowait(frame("c3", Priority.CRITICAL)) is PushResult.OVERFLOW
    assert len(scheduler) == 2 and scheduler.queued_bytes == 4
    assert [f.text for f in await scheduler.receive_some(1 << 20)] == ["c1", "c2"]


async def test_receive_some_takes_frames_up_to_a_byte_budget() -> None:
    scheduler = FrameScheduler(QueueBounds(16, 4096))
    for text, priority in [("low-1", Priority.LOW), ("crit-1", Priority.CRITICAL)]:
        scheduler.send_nowait(frame(text, priority))
    scheduler.send_nowait(frame("crit-2", Priority.CRITICAL))
    # 6 + 6 bytes reach the budget of 12: the LOW frame waits for the next write
    assert [f.text for f in await scheduler.receive_some(12)] == ["crit-1", "crit-2"]
    # a frame bigger than the whole budget still goes out on its own
    assert [f.text for f in await scheduler.receive_some(1)] == ["low-1"]


async def test_wake_returns_an_empty_batch_and_close_still_drains() -> None:
    scheduler = FrameScheduler(QueueBounds(16, 4096))
    got: list[list[str]] = []

    async def writer() -> None:
        while True:
            try:
                frames = await scheduler.receive_some(1024)
            except trio.EndOfChannel:
                got.append(["<end>"])
                return
            got.append([f.text for f in frames])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        scheduler.wake()  # e.g. a pong to send: the writer returns with no frame
        await trio.testing.wait_all_tasks_blocked()
        assert got == [[]]
        scheduler.send_nowait(frame("a", Priority.NORMAL))
        scheduler.close()
    assert got == [[], ["a"], ["<end>"]]
