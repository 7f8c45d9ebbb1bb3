"""What a configuration asks for to be one server: on its own by default (the
in-process backplane and counts); a node of a cluster with ``--redis-url`` (the
Redis backplane and coordinator, connected and checked at start: a Redis that
does not answer stops the server with a message that names it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import attrs
import coredis
import coredis.exceptions

from netra_trio.backplane.base import Backplane
from netra_trio.backplane.memory import MemoryBackplane
from netra_trio.backplane.redis import RedisBackplane
from netra_trio.cluster.base import Coordinator, LocalCoordinator
from netra_trio.cluster.health import ServiceHealth
from netra_trio.cluster.redis import RedisCoordinator
from netra_trio.config import Config, redacted_url
from netra_trio.errors import StartupError
from netra_trio.logs import log_event
from netra_trio.storage.base import EventStore

CONNECT_TIMEOUT_S = 5.0


@attrs.frozen
class Cluster:
    backplane: Backplane
    coordinator: Coordinator


@asynccontextmanager
async def open_cluster(config: Config, events: EventStore) -> AsyncIterator[Cluster]:
    if config.redis_url is None:
        yield Cluster(MemoryBackplane(), LocalCoordinator())
        return
    where = redacted_url(config.redis_url)
    client = coredis.Redis.from_url(
        config.redis_url, connect_timeout=CONNECT_TIMEOUT_S, stream_timeout=CONNECT_TIMEOUT_S
    )
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(client)
            await client.ping()
        except (coredis.exceptions.RedisError, OSError, TimeoutError) as exc:
            raise StartupError(f"cannot use Redis at {where}: {exc}") from exc
        health = ServiceHealth("Redis")
        coordinator = RedisCoordinator(client, ttl_s=2 * config.heartbeat_interval_s, health=health)
        backplane = RedisBackplane(
            events, url=config.redis_url, node_id=coordinator.node_id, health=health
        )
        log_event("redis_connected", url=where, node=coordinator.node_id)
        yield Cluster(backplane, coordinator)
