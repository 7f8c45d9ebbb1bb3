"""The coordinator of a cluster, in Redis.

Each node has a liveness key (``{prefix}node:{node_id}``) that it sets again
every ``ttl_s / 4``, with a time to live of ``ttl_s`` (``2 x
heartbeat_interval_s``): a node killed with ``kill -9`` lapses within ``ttl_s``.
A user's connection slots are a set of ``{node_id}:{lease_id}`` members; taking
one is one server-side script, atomic across the cluster: it drops the members
of nodes that have lapsed, counts the rest, and adds the new one only under the
limit. Slots are given back in the background, several in one round trip.
"""

from __future__ import annotations

import logging
import secrets

import coredis
import trio

from netra_trio.logs import log_event

# KEYS[1]: the user's slots. ARGV: limit, new member, prefix of node keys.
_ADMIT = """
local alive = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local node = string.match(member, '^([^:]+):')
  if node and redis.call('EXISTS', ARGV[3] .. node) == 1 then
    alive = alive + 1
  else
    redis.call('SREM', KEYS[1], member)
  end
end
if alive >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[2])
return 1
"""


class RedisCoordinator:
    def __init__(
        self, client: coredis.Redis[bytes], *, ttl_s: float, prefix: str = "netra:"
    ) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._prefix = prefix
        self.node_id = secrets.token_hex(8)
        self._admit = client.register_script(_ADMIT)
        self._releases: list[tuple[str, str]] = []
        self._wake = trio.Event()

    def _slots(self, user_id: str) -> str:
        return f"{self._prefix}conn:{user_id}"

    async def _mark_alive(self) -> None:
        await self._client.set(f"{self._prefix}node:{self.node_id}", b"1", px=self._ttl_ms)

    async def admit_connection(self, user_id: str, lease_id: str, limit: int) -> bool:
        taken: object = await self._admit(
            keys=[self._slots(user_id)],
            args=[limit, f"{self.node_id}:{lease_id}", f"{self._prefix}node:"],
        )
        return bool(taken)

    def release_connection(self, user_id: str, lease_id: str) -> None:
        self._releases.append((user_id, lease_id))
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._mark_alive()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._stay_alive)
            task_status.started()
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                releases, self._releases = self._releases, []
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for user_id, lease_id in releases:
                            pipe.srem(self._slots(user_id), [f"{self.node_id}:{lease_id}"])
                except Exception:  # lapses with this node if it never gets through
                    log_event("slot_release_error", logging.WARNING, exc_info=True)

    async def _stay_alive(self) -> None:
        while True:
            await trio.sleep(self._ttl_ms / 4000)
            try:
                await self._mark_alive()
            except Exception:
                log_event("node_alive_error", logging.WARNING, exc_info=True)
