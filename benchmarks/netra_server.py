"""Launch netra-trio for a benchmark: ``python -m benchmarks.netra_server``.

The same server as ``netra-trio serve`` (``Server(config, agents=...)``, signal
handling, ``tune_gc()`` after start, logs at the product's default ``info``
level to stderr), with the benchmark agents of :mod:`benchmarks.bench_agents`
registered next to the built-in ones, limits raised so the load is not
refused, and the fd limit raised to the hard limit. The JWT secret comes from
``NETRA_JWT_SECRET`` (the runner generates one per run); the database is the
file given with ``--database`` (a temp file, never ``:memory:``).
``--redis-url`` makes the process a node of a cluster (as ``netra-trio serve
--redis-url`` does): the runner starts two on one redis-server and one
database file, with the same ``NETRA_SESSION_KEY`` (otherwise a key is made
per process).
``NETRA_EVENT_RETENTION_COUNT``, when set, replaces the default retention by
count (to measure users whose event log is past its limit).

Prints ``listening PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import sys

import attrs
import trio

from benchmarks.bench_agents import register
from netra_trio.agents.base import AgentRegistry
from netra_trio.agents.registry import default_agents
from netra_trio.config import Config
from netra_trio.logs import configure_logging
from netra_trio.server.app import Server
from netra_trio.server.runtime import tune_gc

# Limits that would refuse the load generator (it is one address sending as fast
# as the server answers). Applied only where this version of Config has them.
RAISED_LIMITS: dict[str, object] = {
    "max_runs_per_user": 8,
    "shutdown_grace_s": 2.0,  # a capped push leaves runs behind; do not wait on them
    "message_rate_per_s": 1e9,
    "message_burst": 1_000_000_000,
    "handshake_rate_per_ip_s": 1e9,  # (its name in earlier versions)
    "handshake_rate_per_s": 1e9,
    "handshake_burst": 1_000_000_000,
    "max_handshakes_per_address": 1_000_000,
}


def bench_config(
    database: str, port: int, *, max_connections_per_user: int, redis_url: str | None = None
) -> Config:
    fields = attrs.fields_dict(Config)
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "jwt_secret": os.environ["NETRA_JWT_SECRET"],
        "database": database,
        "redis_url": redis_url,
        "max_connections_per_user": max_connections_per_user,
        "log_level": os.environ.get("NETRA_LOG_LEVEL", "info"),
        "event_retention_count": int(
            os.environ.get("NETRA_EVENT_RETENTION_COUNT", fields["event_retention_count"].default)
        ),
        **RAISED_LIMITS,
    }
    if "session_key" in fields:
        values["session_key"] = os.environ.get("NETRA_SESSION_KEY") or (
            base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        )
    return Config(**{k: v for k, v in values.items() if k in fields})  # type: ignore[arg-type]


async def serve(config: Config, agents: AgentRegistry | None) -> None:
    """Serve ``config`` until a signal, with ``agents`` (None: the built-in
    ones and the config's), and print ``listening PORT`` once it listens."""
    server = Server(config, agents=agents)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: server.run(handle_signals=True, task_status=task_status)
        )
        tune_gc()
        print(f"listening {server.port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database", required=True)
    parser.add_argument("--max-connections-per-user", type=int, default=16)
    parser.add_argument("--redis-url", default=None, help="a node of a cluster on this Redis")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    config = bench_config(
        args.database,
        args.port,
        max_connections_per_user=args.max_connections_per_user,
        redis_url=args.redis_url,
    )
    configure_logging(config.log_format, config.log_level)
    print(f"fd_limit {hard}", file=sys.stderr, flush=True)
    trio.run(serve, config, register(default_agents()))


if __name__ == "__main__":
    main()
