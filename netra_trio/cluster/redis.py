"""The coordinator of a cluster, in Redis.

Every key of a user holds that user's name as its hash tag
(``{prefix}{{user}}:conn``, ``:runs``, ``:rate``), and each operation is one
server-side script on one such key: atomic across the cluster, and ready for
a Redis Cluster, where a user's keys share a slot.

A user's connection (or run) slots are a hash of ``lease -> deadline|tag``
(the tag: a connection's session, a run's thread). Taking one drops the
leases whose deadline passed, refuses when the tag is taken (a busy thread) or
the limit is reached (else answers the tags of the others), and adds
the new lease with a deadline ``ttl_s`` (``2 x heartbeat_interval_s``) away,
all by Redis's own clock. The node renews the deadlines of the leases it holds
every ``ttl_s / 4`` (and sets them again when Redis was away longer than
that); a node killed with ``kill -9`` stops renewing, and its slots are free
within ``ttl_s``. Slots are given back in the background,
several in one round trip. The message rate is a token bucket per user.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import coredis
import coredis.exceptions
import trio

from netra_trio.cluster import redis_scripts as scripts
from netra_trio.cluster.health import ServiceHealth, ServiceUnavailable
from netra_trio.cluster.redis_errors import REDIS_OUTAGES
from netra_trio.core.runs import RunRefusal
from netra_trio.logs import log_event

_CONNECTIONS, _RUNS = "conn", "runs"


_ANY_REDIS_ERROR: tuple[type[BaseException], ...] = (*REDIS_OUTAGES, coredis.exceptions.RedisError)


class RedisCoordinator:
    def __init__(
        self,
        client: coredis.Redis[bytes],
        *,
        ttl_s: float,
        prefix: str = "netra:",
        health: ServiceHealth | None = None,
    ) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._prefix = prefix
        self.node_id = secrets.token_hex(8)
        self.health = health or ServiceHealth("Redis")
        self._take_slot = client.register_script(scripts.TAKE_SLOT)
        self._tag_slot = client.register_script(scripts.TAG_SLOT)
        self._live_slots = client.register_script(scripts.LIVE_SLOTS)
        self._renew_slots = client.register_script(scripts.RENEW_SLOTS)
        self._take_messages = client.register_script(scripts.TAKE_MESSAGES)
        # key of a user's slots -> this node's leases there, with their tags
        self._held: dict[str, dict[str, str]] = {}
        self._releases: list[tuple[str, str]] = []
        self._renewing: list[tuple[str, str]] | None = None  # released while renewing
        self._wake = trio.Event()

    def _key(self, user_id: str, kind: str) -> str:
        return f"{self._prefix}{{{user_id}}}:{kind}"

    def _lease(self, lease_id: str) -> str:
        return f"{self.node_id}:{lease_id}"

    async def _call(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        self.health.check()
        try:
            result = await operation()
        except REDIS_OUTAGES as exc:
            raise self.health.failed(exc) from exc
        except coredis.exceptions.RedisError as exc:  # refused (out of memory, MISCONF...)
            log_event("redis_refused", logging.ERROR, error=str(exc))
            raise ServiceUnavailable(f"Redis refused the command: {exc}") from exc
        self.health.succeeded()
        return result

    async def _take(
        self, key: str, lease_id: str, tag: str, limit: int
    ) -> tuple[int, frozenset[str]]:
        """0 and the tags of the other live leases, or the refusal's code."""
        lease = self._lease(lease_id)
        reply: list[Any] = await self._call(
            lambda: self._take_slot(keys=[key], args=[limit, lease, tag, self._ttl_ms])
        )
        code = int(reply[0])
        if code == 0:
            self._held.setdefault(key, {})[lease] = tag
        return code, frozenset(t.decode() if isinstance(t, bytes) else t for t in reply[1:])

    async def _tag(self, key: str, lease_id: str, tag: str, *, exclusive: bool) -> bool:
        lease = self._lease(lease_id)
        args = [lease, tag, "1" if exclusive else "0"]
        tagged: int = await self._call(lambda: self._tag_slot(keys=[key], args=args))
        if tagged == 2:
            log_event("slot_lapsed", logging.WARNING, key=key, lease=lease_id)
        if tagged != 1 and lease in self._held.get(key, {}):
            self._held[key][lease] = tag  # (renewals keep it)
        return tagged != 1

    def _release(self, key: str, lease_id: str) -> None:
        """Given back also when this node never learnt it had it (a reply
        lost after Redis ran the script): deleting a missing lease is harmless."""
        lease = self._lease(lease_id)
        held = self._held.get(key)
        if held is not None and held.pop(lease, None) is not None and not held:
            del self._held[key]
        self._releases.append((key, lease))
        if self._renewing is not None:
            self._renewing.append((key, lease))  # the renewal in flight may set it again
        self._wake.set()

    async def admit_connection(
        self, user_id: str, lease_id: str, limit: int
    ) -> frozenset[str] | None:
        code, sessions = await self._take(self._key(user_id, _CONNECTIONS), lease_id, "", limit)
        return sessions if code == 0 else None

    async def tag_connection(self, user_id: str, lease_id: str, session_id: str) -> None:
        await self._tag(self._key(user_id, _CONNECTIONS), lease_id, session_id, exclusive=False)

    def release_connection(self, user_id: str, lease_id: str) -> None:
        self._release(self._key(user_id, _CONNECTIONS), lease_id)

    async def admit_run(
        self, user_id: str, lease_id: str, thread_id: str | None, limit: int
    ) -> RunRefusal | None:
        code, _ = await self._take(self._key(user_id, _RUNS), lease_id, thread_id or "", limit)
        return (None, RunRefusal.THREAD_BUSY, RunRefusal.USER_AT_LIMIT)[code]

    async def tag_run(self, user_id: str, lease_id: str, thread_id: str) -> bool:
        return await self._tag(self._key(user_id, _RUNS), lease_id, thread_id, exclusive=True)

    def release_run(self, user_id: str, lease_id: str) -> None:
        self._release(self._key(user_id, _RUNS), lease_id)

    async def live_runs(self, user_ids: Collection[str]) -> set[str]:
        users = sorted(set(user_ids))
        if not users:
            return set()

        async def read() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                pending: list[Any] = [
                    self._live_slots(keys=[self._key(user, _RUNS)], client=pipe) for user in users
                ]
            return [await reply for reply in pending]

        live: set[str] = set()
        for leases in await self._call(read):
            for lease in leases:
                live.add((lease.decode() if isinstance(lease, bytes) else lease).partition(":")[2])
        return live

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def take_messages(
        self, user_id: str, cost: int, rate_per_s: float, burst: int
    ) -> float | None:
        key = self._key(user_id, "rate")
        wait: bytes = await self._call(
            lambda: self._take_messages(keys=[key], args=[rate_per_s, burst, cost])
        )
        seconds = float(wait)
        return None if seconds == 0 else seconds

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._renew)
            task_status.started()
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                releases, self._releases = self._releases, []
                try:
                    await self._give_back(releases)
                except _ANY_REDIS_ERROR:  # they lapse by themselves (not renewed)
                    log_event("slot_release_lost", logging.WARNING, slots=len(releases))

    async def _give_back(self, releases: list[tuple[str, str]]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for key, lease in releases:
                pipe.hdel(key, [lease])

    async def _renew(self) -> None:
        """Renew this node's leases every ttl / 4; while Redis is down, try
        again after a backoff (it marks Redis up when it answers again)."""
        while True:
            try:
                await self._renew_all()
            except _ANY_REDIS_ERROR as exc:
                self.health.failed(exc)
                await trio.sleep(self.health.next_wait())
                continue
            self.health.succeeded()
            with trio.move_on_after(self._ttl_ms / 4000):
                await self.health.wait_down()  # found down elsewhere: try it from now on
            if not self.health.up:
                await trio.sleep(self.health.next_wait())

    async def _renew_all(self) -> None:
        held = [
            (key, [part for lease in leases.items() for part in lease])
            for key, leases in self._held.items()
        ]
        if not held:
            await self._client.ping()
            return
        self._renewing = []
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, leases in held:
                    self._renew_slots(keys=[key], args=[self._ttl_ms, *leases], client=pipe)
        finally:
            again, self._renewing = self._renewing, None
            if again:  # released meanwhile: the renewal may have set them again
                self._releases.extend(again)
                self._wake.set()
