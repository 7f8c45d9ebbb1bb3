"""The deliverer: each user's run of events to that user's hub in one call,
then one flush per hub, and a failing hub does not stop the others."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from netra_trio.backplane.notices import Notice, StopRun
from netra_trio.pipeline.deliverer import Deliverer
from netra_trio.storage.records import StoredEvent


def _event(user: str, seq: int) -> StoredEvent:
    return StoredEvent(user, seq, "agent_thinking", "r", "t", f'{{"seq":{seq}}}', 0.0)


class _Hub:
    """A user's hub as the deliverer sees it, recording what it is given."""

    def __init__(self, user: str, log: list[str], *, broken: bool = False) -> None:
        self.user, self._log, self._broken = user, log, broken

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        if self._broken:
            raise RuntimeError("broken hub")
        assert {e.user_id for e in events} == {self.user}
        self._log.append(f"{self.user} {[e.seq for e in events]}")

    def flush(self) -> None:
        if self._broken:
            raise RuntimeError("broken hub")
        self._log.append(f"flush {self.user}")

    def notice(self, notice: Notice) -> None:
        if self._broken:
            raise RuntimeError("broken hub")
        self._log.append(f"{self.user} {notice}")


class _Hubs:
    def __init__(self, hubs: dict[str, _Hub]) -> None:
        self._hubs = hubs

    def recipient(self, user_id: str) -> _Hub | None:
        return self._hubs.get(user_id)


def test_runs_of_one_user_go_in_one_call_and_each_hub_flushes_once_at_the_end() -> None:
    log: list[str] = []
    deliverer = Deliverer(_Hubs({u: _Hub(u, log) for u in ("alice", "bob")}))
    batch = [("alice", 1), ("alice", 2), ("bob", 1), ("carol", 1), ("alice", 3), ("bob", 2)]
    deliverer.deliver([_event(u, s) for u, s in batch])
    assert log == [
        "alice [1, 2]",
        "bob [1]",
        "alice [3]",
        "bob [2]",
        "flush alice",
        "flush bob",
    ]
    log.clear()
    deliverer.deliver([])
    deliverer.deliver([_event("carol", 2)])  # no hub here: nothing to do
    assert log == []


def test_a_failing_hub_does_not_keep_the_others_from_their_events(
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    hubs = {"alice": _Hub("alice", log, broken=True), "bob": _Hub("bob", log)}
    Deliverer(_Hubs(hubs)).deliver([_event("alice", 1), _event("bob", 1)])
    assert log == ["bob [1]", "flush bob"]
    events = [r.getMessage() for r in netra_logs.records]
    assert events.count("event_delivery_error") == 1
    assert events.count("delivery_flush_error") == 1


def test_a_notice_goes_to_its_users_hub_and_a_failing_hub_is_logged(
    netra_logs: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    hubs = {"alice": _Hub("alice", log, broken=True), "bob": _Hub("bob", log)}
    deliverer = Deliverer(_Hubs(hubs))
    deliverer.notice(StopRun("bob", "r-1"))
    deliverer.notice(StopRun("carol", "r-2"))  # no hub here: nothing to do
    deliverer.notice(StopRun("alice", "r-3"))
    assert log == [f"bob {StopRun('bob', 'r-1')}"]
    assert [r.getMessage() for r in netra_logs.records] == ["notice_error"]
