"""The event log's own CPU per event, in one process: producers put events
into a running log on a real SQLite file and the in-process backplane, and
the process's CPU time (the storage thread's included) is divided by the
events. A probe for changes to the log's stages, run alternately against two
checkouts (``PYTHONPATH``) on a quiet machine.

    python -m benchmarks.event_log_cpu [--runs N] [--producers P] [--events E]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from netra_trio.backplane.memory import MemoryBackplane
from netra_trio.pipeline.event_log import EventLog, EventSource
from netra_trio.storage.records import StoredEvent
from netra_trio.storage.sqlite import SqliteStorage

THOUGHT = {"agent_name": "supervisor", "thought": "Looking at the figures you gave " * 3, "step": 3}
COMPLETED = {"agent_name": "supervisor", "status": "success", "result": {"savings": 1}}


class _Count:
    def __init__(self) -> None:
        self.events = 0

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        self.events += len(events)


async def _one_run(producers: int, events: int) -> float:
    """CPU microseconds per event of ``producers`` runs of ``events`` events."""
    with tempfile.TemporaryDirectory() as workdir:
        storage = await SqliteStorage.open(Path(workdir) / "netra.db")
        backplane = MemoryBackplane()
        users = [f"user-{n}" for n in range(producers)]
        for user in users:
            await backplane.subscribe(user)
        sink = _Count()
        async with trio.open_nursery() as outer:
            await outer.start(backplane.run, sink)
            async with trio.open_nursery() as nursery:
                log = EventLog(storage.events, backplane)
                await nursery.start(log.run)

                async def run(user: str) -> None:
                    producer = log.producer(EventSource(user, f"r-{user}", f"t-{user}"))
                    for _ in range(events - 1):
                        await producer.put("agent_thinking", THOUGHT)
                    await producer.put_and_wait("agent_completed", COMPLETED)

                started = time.process_time()
                async with trio.open_nursery() as runs:
                    for user in users:
                        runs.start_soon(run, user)
                cpu = time.process_time() - started
                nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
        await storage.close()
    assert sink.events == producers * events
    return cpu / (producers * events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--producers", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    results = [trio.run(_one_run, args.producers, args.events) for _ in range(args.runs)]
    print(
        f"event_log_cpu: us_per_event_median={statistics.median(results):.2f} "
        f"runs={' '.join(f'{r:.2f}' for r in results)}"
    )


if __name__ == "__main__":
    main()
