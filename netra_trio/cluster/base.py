"""The coordinator interface: what the processes of one server agree on.

One process needs nothing beyond its own counts (:class:`LocalCoordinator`);
a cluster keeps them in Redis (``redis.py``). Each process is a *node* with an
id of its own; what a node holds (a connection's slot) is a lease that lapses
when the node stops renewing it (killed, cut off), within ``2 x
heartbeat_interval_s``.
"""

from __future__ import annotations

from typing import Protocol

import trio


class Coordinator(Protocol):
    @property
    def node_id(self) -> str: ...

    async def admit_connection(self, user_id: str, lease_id: str, limit: int) -> bool:
        """Take one of the user's ``limit`` connection slots, across the cluster,
        atomically; False when all are held (by live nodes)."""
        ...

    def release_connection(self, user_id: str, lease_id: str) -> None:
        """Give a slot back (soon: the coordinator's task does it)."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep this node's leases alive and hand slots back, until cancelled."""
        ...


class LocalCoordinator:
    """One process: the user's hub counts its connections itself."""

    node_id = "local"

    async def admit_connection(self, user_id: str, lease_id: str, limit: int) -> bool:
        return True

    def release_connection(self, user_id: str, lease_id: str) -> None:
        return None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()
