"""The event log's conformance checks across storages: retention by count
and by age, and several writers appending for the same users at once. Every
backend must pass them (``conformance.py`` holds the checks of each store).

Each check takes an :data:`OpenStorage`: each call opens another storage
(another process, or another machine) on the same, initially empty, database,
with the given retention. The check closes what it opens. No check uses a
backend's SQL.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterable

import pytest
import trio

from netra_trio.storage.age_pruning import INTERVAL_S, PASS_ROWS
from netra_trio.storage.base import EventStore, SeqConflict, Storage
from netra_trio.storage.records import ReplayWindow, Retention, RunRecord, StoredEvent

# Opens another storage on the test's database, with this retention.
OpenStorage = Callable[[Retention], Awaitable[Storage]]


# -- retention ----------------------------------------------------------------------------


def _events(
    user: str, seqs: Iterable[int], *, created_at: float | None = None
) -> list[StoredEvent]:
    """``user``'s rows with the given seqs, in that order (made now, unless
    ``created_at`` is given)."""
    made = time.time() if created_at is None else created_at
    return [
        StoredEvent(user, seq, "agent_thinking", "r", "t", f'{{"seq":{seq}}}', made) for seq in seqs
    ]


async def _seqs(store: EventStore, user: str) -> list[int]:
    """The seqs of ``user``'s stored events."""
    return [e.seq for e in await store.events_after(user, 0, limit=100_000)]


async def check_retention_by_count(open_storage: OpenStorage) -> None:
    """Each user keeps the last ``max_events`` of its events; the ones pushed
    out go with the append that pushes them out, and ``pruned_through``
    follows. A refused batch drops nothing. The count is the appending
    storage's own."""
    for nothing_kept in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            await open_storage(Retention(max_events=nothing_kept))
    storage = await open_storage(Retention(max_events=3, max_age_s=3600))
    try:
        store = storage.events
        await store.append(_events("alice", range(1, 5)))  # a batch bigger than the count
        assert await _seqs(store, "alice") == [2, 3, 4]
        assert await store.replay_window("alice") == ReplayWindow(1, 4)
        await store.append([*_events("alice", [5]), *_events("bob", [1])])
        assert await _seqs(store, "alice") == [3, 4, 5]
        assert await store.replay_window("alice") == ReplayWindow(2, 5)
        assert await store.replay_window("bob") == ReplayWindow(0, 1)
        assert await store.last_seqs(["alice", "bob"]) == {"alice": 5, "bob": 1}  # seqs stay
        for seq in (6, 7, 8):  # one at a time: each pushes out the oldest
            await store.append(_events("alice", [seq]))
            assert await _seqs(store, "alice") == [seq - 2, seq - 1, seq]
            assert await store.replay_window("alice") == ReplayWindow(seq - 3, seq)

        # a batch far bigger than the count: only its last events are kept
        carol = _events("carol", range(1, 11))
        await store.append(carol)
        assert await store.events_after("carol", 0) == carol[7:]  # the rows as given
        assert await store.replay_window("carol") == ReplayWindow(7, 10)

        # a refused batch (bob's seq 1 is taken) drops nothing, prunes nothing
        kept = {user: await store.events_after(user, 0) for user in ("alice", "bob", "carol")}
        with pytest.raises(SeqConflict):
            await store.append([*_events("alice", range(9, 16)), *_events("bob", [1])])
        assert {user: await store.events_after(user, 0) for user in kept} == kept
        assert await store.replay_window("alice") == ReplayWindow(5, 8)
        assert await store.last_seqs(["alice", "bob"]) == {"alice": 8, "bob": 1}

        # users interleaved in one batch: each keeps a window of its own
        mixed = [
            *_events("alice", [9]),
            *_events("carol", [11]),
            *_events("alice", [10]),
            *_events("dave", [1]),
            *_events("alice", [11]),
        ]
        await store.append(mixed)
        assert await _seqs(store, "alice") == [9, 10, 11]
        assert await _seqs(store, "carol") == [9, 10, 11]
        assert await _seqs(store, "dave") == [1]
        assert await store.replay_window("alice") == ReplayWindow(8, 11)
        assert await store.replay_window("carol") == ReplayWindow(8, 11)
        assert await store.replay_window("dave") == ReplayWindow(0, 1)
        assert await _seqs(store, "bob") == [1]
    finally:
        await storage.close()

    # large batches, and another storage's count (another process's configuration)
    storage = await open_storage(Retention(max_events=50, max_age_s=3600))
    try:
        store = storage.events
        interleaved = [
            e for seq in range(1, 1501) for e in _events("erin", [seq]) + _events("frank", [seq])
        ]
        await store.append(interleaved)  # 3000 rows
        assert await _seqs(store, "erin") == list(range(1451, 1501))
        assert await store.replay_window("erin") == ReplayWindow(1450, 1500)
        await store.append(_events("erin", range(1501, 1508)))
        assert await _seqs(store, "erin") == list(range(1458, 1508))
        assert await store.replay_window("erin") == ReplayWindow(1457, 1507)
        assert await _seqs(store, "frank") == list(range(1451, 1501))  # not written to since
        assert await store.replay_window("frank") == ReplayWindow(1450, 1500)
        # alice's window was cut at 3 by the other storage; at 50 nothing more goes
        await store.append(_events("alice", [12]))
        assert await _seqs(store, "alice") == [9, 10, 11, 12]
        assert await store.replay_window("alice") == ReplayWindow(8, 12)
        await store.append(_events("grace", range(1, 51)))  # exactly the count: all kept
        assert await _seqs(store, "grace") == list(range(1, 51))
        assert await store.replay_window("grace") == ReplayWindow(0, 50)
        await store.append(_events("grace", [51]))
        assert await _seqs(store, "grace") == list(range(2, 52))
        assert await store.replay_window("grace") == ReplayWindow(1, 51)
    finally:
        await storage.close()


async def check_retention_by_age(open_storage: OpenStorage) -> None:
    """Events created more than ``max_age_s`` ago are dropped with appends:
    the first pass with a storage's first append, at most ``PASS_ROWS`` of
    them per pass, oldest first; while some are left the next append goes on;
    otherwise a storage passes again only after ``INTERVAL_S``. Each user's
    ``pruned_through`` follows; its last seq stays."""
    old = time.time() - 7200  # max_age_s is 3600
    carol_old = [  # the oldest of all
        StoredEvent("carol", seq, "agent_thinking", "r", "t", "{}", old - 1000 + seq * 0.01)
        for seq in range(1, 1501)
    ]
    alice_old = [
        StoredEvent("alice", seq, "agent_thinking", "r", "t", "{}", old + seq * 0.01)
        for seq in range(1, 3001)
    ]
    storage = await open_storage(Retention(max_events=10_000, max_age_s=3600))
    try:
        store = storage.events
        # the first append: the first pass drops PASS_ROWS, the oldest
        first = [*alice_old[:1000], *carol_old, *alice_old[1000:]]
        await store.append([*first, *_events("alice", range(3001, 3006)), *_events("bob", [1])])
        assert PASS_ROWS == 2000  # the numbers below are worked out for this
        assert await store.events_after("carol", 0) == []
        assert await store.replay_window("carol") == ReplayWindow(1500, 1500)
        assert (await store.events_after("alice", 0, limit=1))[0].seq == 501
        assert await store.replay_window("alice") == ReplayWindow(500, 3005)

        # some were left: the next append goes on with them, a bounded piece again
        await store.append(_events("bob", [2]))
        assert (await store.events_after("alice", 0, limit=1))[0].seq == 2501
        assert await store.replay_window("alice") == ReplayWindow(2500, 3005)
        before_last_pass = time.time()
        await store.append(_events("bob", [3]))
        assert await _seqs(store, "alice") == [3001, 3002, 3003, 3004, 3005]
        assert await store.replay_window("alice") == ReplayWindow(3000, 3005)
        assert await store.last_seqs(["alice", "carol"]) == {"alice": 3005, "carol": 1500}
        assert await _seqs(store, "bob") == [1, 2, 3]  # recent: kept
        assert await store.replay_window("bob") == ReplayWindow(0, 3)

        # none left: this storage's next pass is a second away
        await store.append(_events("dave", range(1, 6), created_at=old))
        if time.time() < before_last_pass + INTERVAL_S:  # (always, but on a stalled machine)
            assert await _seqs(store, "dave") == [1, 2, 3, 4, 5]
            assert await store.replay_window("dave") == ReplayWindow(0, 5)
    finally:
        await storage.close()

    # another storage (another process) passes with its own first append
    storage = await open_storage(Retention(max_events=10_000, max_age_s=3600))
    try:
        store = storage.events
        await store.append(_events("bob", [4]))
        assert await store.events_after("dave", 0) == []
        assert await store.replay_window("dave") == ReplayWindow(5, 5)
        assert await store.last_seqs(["dave", "alice"]) == {"dave": 5, "alice": 3005}
        assert await _seqs(store, "alice") == [3001, 3002, 3003, 3004, 3005]
        assert await _seqs(store, "bob") == [1, 2, 3, 4]
    finally:
        await storage.close()


async def check_dropped_seqs_stay_taken(open_storage: OpenStorage) -> None:
    """A seq that retention dropped is still taken. A writer whose last seqs
    are stale (another machine appended since) numbers its batch from below
    the stored last seq: it is refused with :class:`SeqConflict` whether those
    seqs are stored, dropped by count or dropped by age, so that it numbers
    the batch again, above. A user's seqs only ever go up."""
    retention = Retention(max_events=3, max_age_s=3600)
    stale = await open_storage(retention)
    current = await open_storage(retention)
    pruner = await open_storage(retention)
    try:
        assert await stale.events.last_seqs(["alice", "bob"]) == {"alice": 0, "bob": 0}
        await current.events.append(_events("alice", range(1, 6)))  # 1-2 dropped by count
        await current.events.append(_events("bob", range(1, 4), created_at=time.time() - 7200))
        await pruner.events.append(_events("carol", [1]))  # its first pass: bob's go by age
        windows = {"alice": ReplayWindow(2, 5), "bob": ReplayWindow(3, 3)}
        kept = {"alice": [3, 4, 5], "bob": [], "carol": [1]}
        for refused in (
            _events("alice", [1]),  # dropped by count
            _events("alice", [2, 3]),  # dropped, then stored
            _events("alice", [5]),  # stored
            _events("bob", [1]),  # dropped by age
            _events("bob", [3]),  # dropped by age: the last seq
            [*_events("carol", [2]), *_events("bob", [2])],  # the whole batch
        ):
            with pytest.raises(SeqConflict):
                await stale.events.append(refused)
            for user, window in windows.items():
                assert await stale.events.replay_window(user) == window
            assert {user: await _seqs(stale.events, user) for user in kept} == kept
        # numbered again from the stored last seqs, the batch lands
        assert await stale.events.last_seqs(["alice", "bob"]) == {"alice": 5, "bob": 3}
        await stale.events.append([*_events("alice", [6]), *_events("bob", [4])])
        assert await _seqs(current.events, "alice") == [4, 5, 6]
        assert await current.events.replay_window("bob") == ReplayWindow(3, 4)
    finally:
        for storage in (stale, current, pruner):
            await storage.close()


# -- several writers ----------------------------------------------------------------------


async def check_concurrent_writers(
    open_storage: OpenStorage, *, machines: int = 3, batches: int = 30, keep: int | None = None
) -> None:
    """Several storages on one database (processes of a cluster, on several
    machines) append for the same users at once, each numbering its batches
    from the last seqs it knows, the way the event log does. Every append
    lands or is refused whole with :class:`SeqConflict`, and then the batch
    is numbered again from the stored last seqs. In the end each user's
    stored events are exactly those that landed, seqs 1..N (with ``keep``,
    retention by count: the last ``keep`` of them)."""
    users = ["u-a", "u-b", "u-c", "u-d"]
    retention = Retention() if keep is None else Retention(max_events=keep)
    storages = []
    try:
        for _ in range(machines):
            storages.append(await open_storage(retention))
        landed: dict[str, dict[int, str]] = {user: {} for user in users}
        conflicts = 0
        numbered_from_zero = 0
        all_read = trio.Event()

        async def machine(number: int, store: EventStore) -> None:
            nonlocal conflicts, numbered_from_zero
            rng = random.Random(number)
            known = await store.last_seqs(users)
            numbered_from_zero += 1
            if numbered_from_zero == machines:
                all_read.set()
            await all_read.wait()  # every machine numbers its first batch from seq 0
            for batch_number in range(batches):
                # the first batch has every user: all machines meet on seq 1
                chosen = users if batch_number == 0 else rng.sample(users, rng.randint(1, 4))
                plan = [user for user in chosen for _ in range(rng.randint(1, 3))]
                rng.shuffle(plan)
                for attempt in range(200):
                    missing = [user for user in set(plan) if user not in known]
                    if missing:
                        known.update(await store.last_seqs(missing))
                    seqs = dict(known)
                    batch = []
                    for user in plan:
                        seqs[user] += 1
                        frame = (
                            f'{{"m":{number},"b":{batch_number},"a":{attempt},"seq":{seqs[user]}}}'
                        )
                        batch.append(
                            StoredEvent(
                                user, seqs[user], "agent_thinking", None, None, frame, time.time()
                            )
                        )
                    try:
                        await store.append(batch)
                    except SeqConflict:  # any other error fails the check
                        conflicts += 1
                        for user in plan:  # read again what is stored now
                            known.pop(user, None)
                        await trio.sleep(rng.uniform(0, 0.002))
                        continue
                    known = seqs
                    for event in batch:
                        assert event.seq not in landed[event.user_id]
                        landed[event.user_id][event.seq] = event.frame
                    break
                else:
                    raise AssertionError(f"machine {number}'s batch never landed")

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for number, storage in enumerate(storages):
                    nursery.start_soon(machine, number, storage.events)
        assert conflicts >= machines - 1  # at least on the first batch
        for storage in storages:  # every machine reads the same log
            store = storage.events
            last = await store.last_seqs(users)
            for user in users:
                stored = await store.events_after(user, 0, limit=100_000)
                count = len(landed[user])
                first = 1 if keep is None else max(count - keep + 1, 1)
                assert [e.seq for e in stored] == list(range(first, count + 1))
                assert [e.frame for e in stored] == [
                    landed[user][seq] for seq in range(first, count + 1)
                ]
                assert last[user] == count
                assert await store.replay_window(user) == ReplayWindow(first - 1, count)
    finally:
        for storage in storages:
            await storage.close()


async def check_run_endings_past_retention(open_storage: OpenStorage) -> None:
    """A run whose user's events of its time may have left the log is not
    counted as one without an ending (its ending may have been stored, then
    dropped); one whose time is still in the log is."""
    storage = await open_storage(Retention(max_events=3, max_age_s=3600))
    try:
        runs, events = storage.runs, storage.events
        thread = await storage.threads.create_thread("gina", "endings")

        async def ended(run_id: str, started_at: float) -> None:
            record = RunRecord(run_id, "gina", thread.thread_id, "triage", "running", started_at)
            await runs.start_run(record)
            await runs.finish_run(run_id, "error", error_code="STORAGE")

        def event(seq: int, kind: str, run_id: str, created_at: float) -> StoredEvent:
            return StoredEvent("gina", seq, kind, run_id, "t", "{}", created_at)

        now = time.time()
        # ended with its ending stored, which retention then dropped
        await ended("rg-dropped", now - 100)
        dropped = [
            event(1, "agent_started", "rg-dropped", now - 99),
            event(2, "agent_error", "rg-dropped", now - 98),
        ]
        await events.append(dropped)
        # then a run whose events stay (the oldest kept one is older than its start)
        await events.append([event(seq, "agent_thinking", "rg-busy", now - 60) for seq in (3, 4)])
        await ended("rg-lost", now - 50)
        await events.append([event(5, "agent_started", "rg-lost", now - 49)])
        assert await _seqs(events, "gina") == [3, 4, 5]
        assert not await runs.ending_stored("rg-dropped")
        assert [r.run_id for r in await runs.runs_without_ending()] == ["rg-lost"]

        # more events: those of rg-lost's time leave the log too
        await events.append([event(seq, "agent_thinking", "rg-next", now) for seq in (6, 7, 8)])
        assert await runs.runs_without_ending() == []
    finally:
        await storage.close()
