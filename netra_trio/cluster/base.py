"""The coordinator interface: what the processes of one server agree on.

Per user, across the cluster: the connection slots (``max_connections_per_user``),
the run slots (``max_runs_per_user``, at most one run per thread) and the
message rate. One process needs nothing beyond its own counts, which the user's
hub keeps itself (:class:`LocalCoordinator` agrees to everything); a cluster
keeps them in Redis (``redis.py``). Each process is a *node* with an id of its
own; what a node holds is a lease that lapses when the node stops renewing it
(killed, cut off), within ``2 x heartbeat_interval_s``.

While the coordinator cannot reach what it keeps the counts in, its calls
raise :class:`ServiceUnavailable` at once (``health.py``), except
``take_messages``, which then allows (the node's own bucket still applies).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import trio

from netra_trio.cluster.health import ServiceHealth
from netra_trio.core.runs import RunRefusal


class Coordinator(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def health(self) -> ServiceHealth | None:
        """The state of the service behind it (None: nothing to lose)."""
        ...

    async def admit_connection(
        self, user_id: str, lease_id: str, limit: int
    ) -> frozenset[str] | None:
        """Take one of the user's ``limit`` connection slots, atomically: the
        sessions the user's other connections are attached to, on any node;
        None when all slots are held."""
        ...

    async def tag_connection(self, user_id: str, lease_id: str, session_id: str) -> None:
        """Name the session a connection's slot is attached to."""
        ...

    def release_connection(self, user_id: str, lease_id: str) -> None:
        """Give a connection slot back (soon: the coordinator's task does it)."""
        ...

    async def admit_run(
        self, user_id: str, lease_id: str, thread_id: str | None, limit: int
    ) -> RunRefusal | None:
        """Take one of the user's ``limit`` run slots for a run on ``thread_id``
        (None: a thread yet to be made), atomically; the refusal otherwise."""
        ...

    async def tag_run(self, user_id: str, lease_id: str, thread_id: str) -> bool:
        """Name the thread of a run slot taken for a thread yet to be made;
        False when another run holds that thread."""
        ...

    def release_run(self, user_id: str, lease_id: str) -> None:
        """Give a run slot back (soon)."""
        ...

    async def live_runs(self, user_ids: Collection[str]) -> set[str]:
        """The lease ids (run ids) of the runs of ``user_ids`` that some node
        holds and renews now, on any node."""
        ...

    async def take_messages(
        self, user_id: str, cost: int, rate_per_s: float, burst: int
    ) -> float | None:
        """Spend ``cost`` of the user's message budget; None when allowed,
        otherwise the seconds to wait."""
        ...

    async def ping(self) -> None:
        """Return when what the counts are kept in answers; ServiceUnavailable
        when it does not."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep this node's leases alive and hand slots back, until cancelled."""
        ...


class LocalCoordinator:
    """One process: the user's hub counts its connections, runs and messages itself."""

    node_id = "local"
    health = None

    async def admit_connection(
        self, user_id: str, lease_id: str, limit: int
    ) -> frozenset[str] | None:
        return frozenset()  # (the sessions attached here are the service's to know)

    async def tag_connection(self, user_id: str, lease_id: str, session_id: str) -> None:
        return None

    def release_connection(self, user_id: str, lease_id: str) -> None:
        return None

    async def admit_run(
        self, user_id: str, lease_id: str, thread_id: str | None, limit: int
    ) -> RunRefusal | None:
        return None

    async def tag_run(self, user_id: str, lease_id: str, thread_id: str) -> bool:
        return True

    def release_run(self, user_id: str, lease_id: str) -> None:
        return None

    async def live_runs(self, user_ids: Collection[str]) -> set[str]:
        return set()  # no other process: a run not running here is not running

    async def take_messages(
        self, user_id: str, cost: int, rate_per_s: float, burst: int
    ) -> float | None:
        return None

    async def ping(self) -> None:
        return None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()
