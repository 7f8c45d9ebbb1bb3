"""The in-process backplane passes the backplane conformance check, and hands
batches to its sink synchronously (what the event log's publish stage relies on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from netra_trio.backplane.base import Backplane
from netra_trio.backplane.memory import MemoryBackplane, MemoryBus
from tests.backplane.conformance import Sink, check_backplane, event


async def test_the_memory_backplane_conforms() -> None:
    bus = MemoryBus()

    @asynccontextmanager
    async def new_node() -> AsyncIterator[Backplane]:
        yield MemoryBackplane(bus)

    await check_backplane(new_node)


async def test_publish_hands_the_batch_over_before_it_returns() -> None:
    backplane, sink = MemoryBackplane(), Sink()
    await backplane.subscribe("alice")
    await backplane.publish([event("alice", 1)])  # no receiving side yet: nobody to hand it to
    async with trio.open_nursery() as nursery:
        await nursery.start(backplane.run, sink)
        with trio.testing.assert_no_checkpoints():
            await backplane.publish([event("alice", 2)])
        assert sink.of("alice") == [2]
        nursery.cancel_scope.cancel()
    await backplane.publish([event("alice", 3)])  # the receiving side has ended
    assert sink.of("alice") == [2]
