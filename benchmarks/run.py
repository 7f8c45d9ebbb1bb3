"""The scenario runner: ``python -m benchmarks.run [--quick] [--scenarios ...]``.

For every (scenario, server, parameters) cell it starts the server as its own
process on loopback, starts the load client (:mod:`benchmarks.loadclient`) as
another, samples both processes' CPU at the client's ``@start``/``@end``
markers (and RSS for ``idle``), stops the server, and records one row. Our
server is :mod:`benchmarks.netra_server` with a JWT secret generated for this
run, tokens precomputed here, and a fresh SQLite file in a temp directory per
server start; the baselines are in ``benchmarks/baseline_*.py``.

Scenarios: ``rtt``, ``push``, ``agents``, ``idle``, ``priority``,
``cluster_push`` and ``cluster_agents`` (the same loads through two nodes of a
cluster, on one redis-server that the runner starts and one SQLite file, each
next to one in-process server; see :meth:`Bench.cluster`), ``storage_push``
and ``storage_agents`` (the push C=1000 and agents loads on a SQLite file and
on a fresh database of one PostgreSQL cluster that the runner starts for the
run and removes after it; :mod:`benchmarks.storage_cells`), ``profile``
(py-spy on our server under ``rtt`` C=100 and ``push`` C=1000). The full run
writes ``benchmarks/RESULTS.md`` and ``benchmarks/results.json``; text between
``<!-- analysis:start -->`` and ``<!-- analysis:end -->`` in an existing
RESULTS.md is kept. ``--quick`` runs ``rtt`` C=100 and ``push`` C=1000 (batch)
against our server and bare trio-websocket only, writes nothing, and prints
the ``bench-quick:`` summary as its last line; ``--quick --scenarios
cluster_push,cluster_agents`` runs shorter cluster cells and prints their table,
and ``--quick --scenarios storage_push,storage_agents`` shorter storage cells
(SQLite and PostgreSQL with ``synchronous_commit=on`` only).
``--push-cell SERVER:C:TIMES`` runs one push cell a few times back to back (for
A/B comparisons of a step).

Every process is bounded: the client by its own deadline and a watchdog here,
the servers by SIGTERM then SIGKILL.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import procstat, storage_cells
from benchmarks.bench_agents import EMIT, PACED
from benchmarks.harness import HERE, PY, ROOT, RedisProcess, ServerProcess, fmt, log, ratio
from benchmarks.storage_cells import STORAGE_CELLS

AGENT_CONTENT = (
    "we send 2M requests/day to gpt-4o with 1.5k input and 300 output tokens, how do we cut cost?"
)
THOUGHT_CHARS = 120
BASELINES = ("trio_websocket", "websockets", "fastapi")
AGENTS_STAGGER_S = 5.0
AGENTS_WARMUP_S = 8.0
AGENTS_SECONDS = 20.0
PRIORITY_USERS = 50
PRIORITY_EVENTS = 60
PRIORITY_INTERVAL_S = 0.05
CONTENDED_PCT = 25.0
RETRIES = 2
PROFILE_SECONDS = 8
PROFILE_RATE = 250
CLUSTER_USERS = 1000
CLUSTER_NODES = 2
CLUSTER_CPU_RATIO_TARGET = 1.5
CLUSTER_P99_TARGET_MS = 50.0
CLUSTER_CELLS = ("push", "agents")
ALL_SCENARIOS = (
    "rtt",
    "push",
    "agents",
    "idle",
    "priority",
    *(f"cluster_{cell}" for cell in CLUSTER_CELLS),
    *(f"storage_{cell}" for cell in STORAGE_CELLS),
    "profile",
)
SERVER_LABELS = {
    "netra": "netra-trio",
    "netra_batch": "netra-trio (batch=1)",
    "trio_websocket": "bare trio-websocket",
    "websockets": "websockets (asyncio)",
    "fastapi": "FastAPI/uvicorn",
    "netra_cluster": f"netra-trio, {CLUSTER_NODES} nodes + redis",
}


# -- processes -----------------------------------------------------------------------------


class Cluster:
    """``nodes`` netra-trio processes on one redis-server and one SQLite file (what
    ``netra-trio serve --redis-url ... --database ...`` makes of each), with one JWT
    secret and one session key. Started one after the other (each migrates the file
    at start); the load client spreads its connections over ``ports`` in turn."""

    kind = "netra_cluster"

    def __init__(self, workdir: Path, secret: str, nodes: int = CLUSTER_NODES) -> None:
        self.database: Path | None = workdir / f"cluster-{time.monotonic_ns()}.db"
        self.redis = RedisProcess(workdir)
        self.nodes: list[ServerProcess] = []
        session_key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        try:
            for _ in range(nodes):
                self.nodes.append(
                    ServerProcess(
                        "netra",
                        workdir,
                        secret,
                        database=self.database,
                        redis_url=self.redis.url,
                        env={"NETRA_SESSION_KEY": session_key},
                    )
                )
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.nodes[0].pid

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def cpu_pids(self) -> dict[str, int]:
        pids = {f"node_{chr(ord('a') + i)}": node.pid for i, node in enumerate(self.nodes)}
        return {**pids, "redis": self.redis.pid}

    @property
    def cpu_trees(self) -> frozenset[int]:
        return frozenset()

    def cpu_parts(self) -> dict[str, float]:
        return {}

    def stop(self) -> None:
        try:
            for node in self.nodes:
                node.stop()
        finally:
            self.redis.stop()


Deployment = ServerProcess | Cluster


def run_client(
    spec: dict[str, Any],
    server: Deployment,
    workdir: Path,
    *,
    on_ready: Callable[[int, int], bool] | None = None,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the load client on ``spec`` against ``server``; returns its result plus
    the CPU share of the server side (summed over its processes: a cluster's nodes
    and redis-server, each also on its own) and of the client over the measured
    window(s), and the server side's CPU seconds in the window (and by part, as
    ``parts_cpu_s``, when the server side names parts: ``cpu_parts()``)."""
    spec = {**spec, "host": "127.0.0.1", "port": server.port, "ports": server.ports}
    spec.setdefault("hard_timeout_s", 240.0)
    spec_path = workdir / f"spec-{time.monotonic_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.Popen(
        [PY, "-m", "benchmarks.loadclient", str(spec_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
    )
    watchdog = threading.Timer(spec["hard_timeout_s"] + 30, proc.kill)
    watchdog.start()
    server_pids = server.cpu_pids
    pids = [*server_pids.values(), proc.pid]
    windows: list[dict[str, Any]] = []
    start: procstat.Snapshot | None = None
    parts_at_start: dict[str, float] = {}
    result: dict[str, Any] = {}
    try:
        assert proc.stdout is not None and proc.stdin is not None
        for line in proc.stdout:
            if line.startswith("@start"):
                start = procstat.Snapshot.take(pids, server.cpu_trees)
                parts_at_start = server.cpu_parts()
                if on_start is not None:
                    on_start()
            elif line.startswith("@end") and start is not None:
                end = procstat.Snapshot.take(pids, server.cpu_trees)
                parts_at_end = server.cpu_parts()
                each = {
                    name: procstat.cpu_percent(start, end, pid) for name, pid in server_pids.items()
                }
                window: dict[str, Any] = {
                    "server_cpu_pct": round(sum(each.values()), 1),
                    "client_cpu_pct": procstat.cpu_percent(start, end, proc.pid),
                    "other_cpu_pct": procstat.other_percent(start, end),
                    "server_rss_mib": round(procstat.rss_kib(server.pid) / 1024, 1),
                    "server_cpu_s": round(
                        sum(end.cpu[pid] - start.cpu[pid] for pid in server_pids.values()), 3
                    ),
                    "window_s": round(end.wall - start.wall, 3),
                }
                if len(each) > 1:
                    window.update({f"{name}_cpu_pct": pct for name, pct in each.items()})
                if parts_at_end:
                    window["parts_cpu_s"] = {
                        name: round(seconds - parts_at_start.get(name, 0.0), 3)
                        for name, seconds in parts_at_end.items()
                    }
                windows.append(window)
            elif line.startswith("@ready") and on_ready is not None:
                go_on = on_ready(int(line.split()[1]), proc.pid)
                proc.stdin.write("continue\n" if go_on else "stop\n")
                proc.stdin.flush()
            elif line.startswith("@result "):
                result = json.loads(line[len("@result ") :])
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not result:
        raise RuntimeError(f"load client failed (exit {proc.returncode}) on {spec['mode']}")
    result["windows"] = windows
    if windows:
        result.update(windows[-1])
    return result


def saturation(row: dict[str, Any]) -> str:
    server, client = row.get("server_cpu_pct", 0.0), row.get("client_cpu_pct", 0.0)
    other = row.get("other_cpu_pct", 0.0)
    if other > CONTENDED_PCT:
        return f"contended: other processes {other:.0f}% (server {server:.0f}%)"
    nodes = {k: v for k, v in process_cpu(row).items() if k.startswith("node_")}
    if nodes:  # a cluster: its processes share the machine's cores with the client
        cores = os.cpu_count() or 1
        if server + client >= 90 * cores:
            return (
                f"machine: {cores} cores busy (servers and redis {server:.0f}%,"
                f" client {client:.0f}%)"
            )
        hot = [f"{node_label(k)} {v:.0f}%" for k, v in nodes.items() if v >= 90]
        if hot:
            return ", ".join(hot)
        if client >= 90:
            return f"CLIENT ({client:.0f}% vs servers and redis {server:.0f}%)"
        return f"neither (servers and redis {server:.0f}%, client {client:.0f}%)"
    if server >= 90 and server >= client:
        return f"server ({server:.0f}% vs client {client:.0f}%)"
    if client >= 90:
        return f"CLIENT ({client:.0f}% vs server {server:.0f}%)"
    return f"neither (server {server:.0f}%, client {client:.0f}%)"


def process_cpu(row: dict[str, Any]) -> dict[str, float]:
    """A cluster row's CPU share per server-side process: ``node_a``, ``node_b``...,
    ``redis`` (empty for one server process)."""
    return {
        key[: -len("_cpu_pct")]: value
        for key, value in row.items()
        if key.endswith("_cpu_pct") and key.startswith(("node_", "redis_"))
    }


def node_label(name: str) -> str:
    """``node_a`` -> ``node A``."""
    return f"node {name.rsplit('_', 1)[1].upper()}" if name.startswith("node_") else name


# -- the run ---------------------------------------------------------------------------------


class Bench:
    def __init__(self, quick: bool, workdir: Path) -> None:
        self.quick = quick
        self.workdir = workdir
        self.secret = secrets.token_urlsafe(48)
        self.rows: list[dict[str, Any]] = []
        self.profiles: list[dict[str, Any]] = []
        self.databases: list[dict[str, Any]] = []
        self.postgres: Any = None  # the storage cells' PostgreSQL cluster, started on first use
        self._tokens: list[str] = []
        self.commit_at_start = git_commit()

    def tokens(self, count: int) -> list[str]:
        """One token per user ``bench-u{i}``, signed with this run's secret."""
        if len(self._tokens) < count:
            from netra_trio.auth import Authenticator

            auth = Authenticator(secret=self.secret)
            self._tokens += [
                auth.issue(f"bench-u{i}", 3 * 3600) for i in range(len(self._tokens), count)
            ]
        return self._tokens[:count]

    def server(self, kind: str, **kw: Any) -> ServerProcess:
        return ServerProcess(kind, self.workdir, self.secret, **kw)

    def _finish(self, server: Deployment) -> None:
        server.stop()
        if server.database is not None and server.database.exists():
            size = sum(
                p.stat().st_size
                for p in server.database.parent.glob(server.database.name + "*")
                if p.is_file()
            )
            self.databases.append(
                {"server": server.kind, "path": str(server.database), "bytes": size}
            )

    def measure(
        self,
        kind: str,
        spec: dict[str, Any],
        deploy: Callable[[], Deployment] | None = None,
        annotate: Callable[[Any, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """One cell on a fresh server (``deploy()`` when given, e.g. a fresh cluster).
        When other processes on the machine took more than CONTENDED_PCT of a core
        during the window, wait and measure again (at most RETRIES more times; never in
        --quick, which must stay under a minute), keeping the least contended attempt.
        ``annotate(server, result)`` runs after each attempt's server is stopped."""
        best: dict[str, Any] | None = None
        for attempt in range(1 + (0 if self.quick else RETRIES)):
            server = deploy() if deploy is not None else self.server(kind)
            try:
                result = run_client(spec, server, self.workdir)
            finally:
                self._finish(server)
            if annotate is not None:
                annotate(server, result)
            result["attempts"] = attempt + 1
            result["other_cpu_pct"] = max(
                [w["other_cpu_pct"] for w in result.get("windows", [])] or [0.0]
            )
            if best is None or result.get("other_cpu_pct", 0) < best.get("other_cpu_pct", 0):
                best = result
            if best.get("other_cpu_pct", 0) <= CONTENDED_PCT:
                break
            log(f"other processes used {result.get('other_cpu_pct')}% CPU: measuring again")
            time.sleep(5.0)
        assert best is not None
        return best

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        row["saturated"] = saturation(row)
        self.rows.append(row)
        summary = {
            k: row.get(k)
            for k in (
                "scenario",
                "server",
                "connections",
                "round_trips_per_s",
                "events_per_s",
                "runs_per_s",
                "server_cpu_pct",
                "client_cpu_pct",
            )
            if row.get(k) is not None
        }
        if "latency" in row:
            summary["p50_ms"] = row["latency"].get("p50_ms")
            summary["p99_ms"] = row["latency"].get("p99_ms")
        log(json.dumps(summary))
        return row

    # -- rtt -------------------------------------------------------------------------------

    def rtt(self, servers: tuple[str, ...], counts: tuple[int, ...]) -> None:
        warmup, duration = (0.5, 3.0) if self.quick else (1.0, 5.0)
        for count in counts:
            for kind in servers:
                result = self.measure(kind, self._rtt_spec(kind, count, warmup, duration))
                self.record({"scenario": "rtt", "server": kind, **result})

    def _rtt_spec(self, kind: str, count: int, warmup: float, duration: float) -> dict[str, Any]:
        return {
            "mode": "rtt",
            "connections": count,
            "path": "/ws",
            "tokens": self.tokens(count),
            "expect_established": kind == "netra",
            "message": {"type": "ping", "payload": {"n": 1}},
            "warmup_s": warmup,
            "duration_s": duration,
        }

    # -- push ------------------------------------------------------------------------------

    def push(self, variants: tuple[str, ...], counts: tuple[int, ...]) -> None:
        for count in counts:
            events = self._push_events(count)
            for variant in variants:
                kind = "netra" if variant.startswith("netra") else variant
                result = self.measure(kind, self._push_spec(variant, count, events))
                self.record(
                    {"scenario": "push", "server": variant, "events_per_run": events, **result}
                )

    def _push_events(self, count: int) -> int:
        if self.quick:
            return 50 if count >= 1000 else 500
        return 300 if count >= 1000 else 3000

    def _push_cap_s(self) -> float:
        """A push ends when every connection has all its events, or at this cap
        (then the rate is over what arrived, and the row says so)."""
        return 12.0 if self.quick else 30.0

    def _push_spec(self, variant: str, count: int, events: int) -> dict[str, Any]:
        netra = variant.startswith("netra")
        inputs = {"n": events, "thought_chars": THOUGHT_CHARS}
        if netra:
            start = {"type": "start_agent", "payload": {"agent": EMIT, "input": inputs}}
            expected = events + 2  # agent_started, n x agent_thinking, agent_completed
        else:
            start = {"type": "push", "payload": inputs}
            expected = events
        return {
            "mode": "push",
            "connections": count,
            "path": "/ws?batch=1" if variant == "netra_batch" else "/ws",
            "tokens": self.tokens(count),
            "expect_established": netra,
            "start_message": start,
            "expected_events": expected,
            "timeout_s": self._push_cap_s(),
        }

    # -- agents ----------------------------------------------------------------------------

    def _agents_spec(self, kind: str, count: int) -> dict[str, Any]:
        return {
            "mode": "agents",
            "connections": count,
            "path": "/ws",
            "tokens": self.tokens(count),
            "expect_established": kind == "netra",
            "message": {"type": "agent_request", "payload": {"content": AGENT_CONTENT}},
            "stagger_s": AGENTS_STAGGER_S,
            "warmup_s": AGENTS_WARMUP_S,
            "duration_s": AGENTS_SECONDS,
            "drain_timeout_s": 30.0,
        }

    def _agents_cell_spec(self, users: int) -> dict[str, Any]:
        """The agents load of the cluster and storage cells (shorter in --quick)."""
        spec = self._agents_spec("netra", users)
        if self.quick:
            spec.update(stagger_s=2.0, warmup_s=4.0, duration_s=6.0, drain_timeout_s=15.0)
        return spec

    def agents(self, servers: tuple[str, ...], count: int) -> None:
        for kind in servers:
            result = self.measure(kind, self._agents_spec(kind, count))
            self.record({"scenario": "agents", "server": kind, **result})

    # -- cluster ---------------------------------------------------------------------------

    def cluster(self, cell: str, users: int = CLUSTER_USERS) -> None:
        """``cell`` (``push`` or ``agents``) through a cluster of CLUSTER_NODES nodes on
        one redis-server and one SQLite file, right after the same load on one
        in-process server: the same client spec against both, the connections spread
        over the nodes in turn (one node only in-process). The row's
        ``cpu_ms_per_1k_events`` is the CPU time of every server-side process
        (cluster: both nodes and redis-server) over the measured window per 1,000
        agent events received there.

        - ``push``: every user has CLUSTER_NODES connections, one on each node; the
          run of user ``u`` is started on node ``u % CLUSTER_NODES`` (even users on
          node A, odd on node B) and every event of it is received on each node, so
          half of the receipts cross from the node that ran it to the other.
          ``?batch=1``, as the push target's cell.
        - ``agents``: one connection per user, even users on node A, odd on node B,
          each keeping one ``agent_request`` in flight (the agents cell's load).
        """
        if cell == "push":
            spec = self._cluster_push_spec(users)
        elif cell == "agents":
            spec = self._agents_cell_spec(users)
        else:
            raise ValueError(f"unknown cluster cell {cell!r}")
        for deployment in ("netra", "netra_cluster"):
            deploy = (
                (lambda: Cluster(self.workdir, self.secret))
                if deployment == "netra_cluster"
                else None
            )
            result = self.measure("netra", spec, deploy)
            events, cpu_s = result.get("events") or 0, result.get("server_cpu_s")
            row = {"scenario": f"cluster_{cell}", "server": deployment, "users": users, **result}
            row["cpu_ms_per_1k_events"] = (
                round(cpu_s * 1e6 / events, 2) if events and cpu_s is not None else None
            )
            if cell == "push":
                row["events_per_run"] = spec["expected_events"] - 2
            self.record(row)

    def _cluster_push_spec(self, users: int) -> dict[str, Any]:
        nodes = CLUSTER_NODES
        spec = self._push_spec("netra_batch", users, self._push_events(users))
        spec.update(
            connections=users * nodes,
            # connection i is user i // nodes's, on node i % nodes (in-process: the server)
            tokens=[token for token in self.tokens(users) for _ in range(nodes)],
            senders=[u * nodes + u % nodes for u in range(users)],
        )
        return spec

    # -- idle ------------------------------------------------------------------------------

    def idle(self, servers: tuple[str, ...], stages: tuple[int, ...]) -> None:
        for kind in servers:
            server = self.server(kind)
            measurements: list[dict[str, Any]] = []
            try:
                time.sleep(1.0)
                base = procstat.rss_kib(server.pid)
                measurements.append({"connections": 0, "server_rss_kib": base})

                def on_ready(
                    held: int,
                    client_pid: int,
                    server: ServerProcess = server,
                    measurements: list[dict[str, Any]] = measurements,
                    kind: str = kind,
                ) -> bool:
                    time.sleep(3.0)  # let handshakes settle and the heartbeat tasks start
                    rss = procstat.rss_kib(server.pid)
                    measurements.append(
                        {
                            "connections": held,
                            "server_rss_kib": rss,
                            "client_rss_kib": procstat.rss_kib(client_pid),
                            "server_threads": procstat.threads(server.pid),
                        }
                    )
                    log(f"idle {kind}: {held} connections, server RSS {rss / 1024:.1f} MiB")
                    return True

                result = run_client(
                    {
                        "mode": "idle",
                        "connections": max(stages),
                        "stages": list(stages),
                        "path": "/ws",
                        "tokens": self.tokens(max(stages)),
                        "expect_established": kind == "netra",
                        "connect_concurrency": 200,
                        "hold_timeout_s": 120.0,
                    },
                    server,
                    self.workdir,
                    on_ready=on_ready,
                )
                alive = server.proc.poll() is None
            finally:
                self._finish(server)
            for m in measurements[1:]:
                m["kib_per_connection"] = round(
                    (m["server_rss_kib"] - base) / max(m["connections"], 1), 2
                )
            self.record(
                {
                    "scenario": "idle",
                    "server": kind,
                    "measurements": measurements,
                    "stages": result.get("stages"),
                    "connect_failures": result.get("connect_failures"),
                    "connect_failure_reasons": result.get("connect_failure_reasons"),
                    "server_survived": alive,
                }
            )

    # -- priority --------------------------------------------------------------------------

    def priority(self, users: int = PRIORITY_USERS, flooders: int = 2) -> None:
        result = self.measure(
            "netra",
            {
                "mode": "priority",
                "users": users,
                "flooders_per_user": flooders,
                "path": "/ws",
                "tokens": self.tokens(users),
                "expect_established": True,
                "start_message": {
                    "type": "start_agent",
                    "payload": {
                        "agent": PACED,
                        "input": {
                            "n": PRIORITY_EVENTS,
                            "interval_s": PRIORITY_INTERVAL_S,
                            "thought_chars": THOUGHT_CHARS,
                        },
                    },
                },
                "expected_events": PRIORITY_EVENTS + 2,
                "start_stagger_s": 1.0,
                "flood_window": 4,
                "timeout_s": 60.0,
            },
        )
        windows = result.get("windows", [])
        for phase, window in zip(("unloaded", "loaded"), windows, strict=False):
            result[phase].update(window)
        self.record({"scenario": "priority", "server": "netra", **result})

    # -- profile ---------------------------------------------------------------------------

    def profile(self) -> None:
        if shutil.which("py-spy") is None and not (Path(PY).parent / "py-spy").exists():
            log("py-spy is not installed: skipping the profile scenario")
            return
        py_spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        push = self._push_spec("netra_batch", 1000, 20_000)
        push["timeout_s"] = PROFILE_SECONDS + 3.0  # a long run, cut when the profile is done
        agents = self._agents_spec("netra", 1000)
        agents.update(warmup_s=6.0, duration_s=PROFILE_SECONDS + 2.0)
        cases = [
            ("rtt C=100", self._rtt_spec("netra", 100, 1.0, PROFILE_SECONDS + 2.0)),
            ("push C=1000 batch=1", push),
            ("agents C=1000", agents),
        ]
        seconds = PROFILE_SECONDS
        for label, spec in cases:
            server = self.server("netra")
            raw = self.workdir / f"profile-{len(self.profiles)}.txt"
            spy: list[subprocess.Popen[bytes]] = []

            def start_spy(
                server: ServerProcess = server,
                raw: Path = raw,
                spy: list[subprocess.Popen[bytes]] = spy,
            ) -> None:
                spy.append(
                    subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--pid",
                            str(server.pid),
                            "--duration",
                            str(seconds),
                            "--rate",
                            str(PROFILE_RATE),
                            "--format",
                            "raw",
                            "--nonblocking",
                            "--output",
                            str(raw),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

            try:
                run_client(spec, server, self.workdir, on_start=start_spy)
                for proc in spy:
                    try:
                        proc.wait(timeout=seconds + 30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            finally:
                self._finish(server)
            if raw.exists():
                self.profiles.append({"case": label, **summarize_profile(raw)})
                log(f"profile {label}: {self.profiles[-1]['samples']} samples")


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_area: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        frames = [f for f in frames if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if not frame.startswith(_WRAPPERS):
                inclusive[frame] += count
        by_area[_area(stack)] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "self": share(own) if total else [],
        "inclusive": share(inclusive) if total else [],
        "areas": share(by_area) if total else [],
    }


_WRAPPERS = (
    "<module> ",
    "_run_code ",
    "_run_module_as_main ",
    "run (_core/_run.py)",
    "unrolled_run ",
    "main (benchmarks/",
    "serve (benchmarks/",
    "Thread.",
    "WorkerThread._work",
)


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (pkg/file.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    parts = file.split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "netra_trio" in parts:
        parts = parts[parts.index("netra_trio") :]
    elif "benchmarks" in parts:
        parts = parts[parts.index("benchmarks") :]
    else:
        parts = parts[-2:]
    return f"{name} ({'/'.join(parts)})"


def _area(stack: str) -> str:
    """Where a sample was, by its innermost frame: syscalls are attributed by py-spy to
    the Python frame that made them, so socket send/recv and epoll get their own rows."""
    leaf = stack.rsplit(";", 1)[-1]
    for area, needles in _AREAS:
        if any(needle in leaf for needle in needles):
            return area
    return "other (stdlib, C)"


_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLite (storage thread)", ("storage/sqlite/", "sqlite3")),
    (
        "socket send/recv syscalls",
        (
            "_nonblocking_helper",
            "SocketStream.send_all",
            "SocketStream.receive_some",
            "sock_method",
        ),
    ),
    ("epoll wait", ("get_events", "_epoll_wait")),
    ("thread hand-off (to_thread)", ("_thread_cache.py", "_threads.py", "outcome/")),
    ("netra_trio", ("netra_trio/",)),
    ("trio_websocket", ("trio_websocket/",)),
    ("wsproto", ("wsproto/",)),
    ("h11", ("h11/",)),
    ("trio scheduler and sync", ("trio/",)),
    ("cattrs", ("cattrs/",)),
    ("attrs", ("attr/",)),
    ("jwt", ("jwt/",)),
    ("logging", ("logging/",)),
)


# -- reporting -------------------------------------------------------------------------------


def find(rows: list[dict[str, Any]], scenario: str, server: str, **match: Any) -> dict[str, Any]:
    for row in rows:
        if (
            row["scenario"] == scenario
            and row["server"] == server
            and all(row.get(k) == v for k, v in match.items())
        ):
            return row
    return {}


def cpu_cells(row: dict[str, Any]) -> str:
    """The server, client and other CPU columns of a result row."""
    return (
        f"{fmt(row.get('server_cpu_pct'))}% | {fmt(row.get('client_cpu_pct'))}% |"
        f" {fmt(row.get('other_cpu_pct'))}%"
    )


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "netra_trio"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (netra_trio/ has uncommitted changes)" if dirty else "")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = ("trio", "trio-websocket", "wsproto", "websockets", "fastapi", "uvicorn", "uvloop")
    out = []
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def markdown(bench: Bench, command: str, started: str, elapsed: float, previous: str) -> str:
    rows = bench.rows
    info = procstat.machine()
    out: list[str] = []
    add = out.append
    add("# netra-trio benchmark results\n")
    add(
        "Generated by `benchmarks/run.py`; every number below was measured in one run on the"
        " machine described here. Servers and the load client are separate processes on"
        " loopback; each row's CPU columns are the share of one core that each process used"
        " over the measured window (`/proc/PID/stat` utime+stime), and *saturated* names the"
        " side that ran out of CPU first.\n"
    )
    add(f"- **Date**: {started} (the run took {elapsed / 60:.1f} min)")
    add(f"- **Command**: `{command}`")
    commit_now = git_commit()
    if commit_now == bench.commit_at_start:
        add(f"- **Commit**: `{commit_now}`")
    else:
        add(
            f"- **Commit**: `{bench.commit_at_start}` at the start, `{commit_now}` at the end:"
            " the package changed during the run, so rows may mix versions"
        )
    add(
        f"- **Machine**: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM,"
        f" Linux {info['kernel']}, Python {info['python']}, `ulimit -n` (soft/hard)"
        f" {info['ulimit_n']} (every process raises its soft limit to the hard one)"
    )
    add(f"- **Versions**: {versions()}")
    add(
        "- **Load client**: `benchmarks/loadclient.py`, one process, asyncio Protocols on"
        " uvloop, precomputed masked frames over raw sockets; latency is sampled from each"
        " server frame's `timestamp` (Unix seconds at encode) to receipt (rtt: client-side"
        " send-to-reply)."
    )
    add(
        "- **Our server**: `benchmarks/netra_server.py` = `Server(config, agents=...)` with the"
        " built-in agents plus `benchmarks/bench_agents.py`; a JWT secret generated per run,"
        " tokens precomputed, one user per connection (`bench-u{i}`) unless stated,"
        " `max_connections_per_user=16`, `max_runs_per_user=8`, logs at `info` to a file, every"
        " agent event stored in a temp SQLite file (WAL) before it is sent."
    )
    if bench.databases:
        db = bench.databases[-1]
        add(
            f"- **Databases**: a fresh file per server start under `{Path(db['path']).parent}`,"
            f" e.g. `{Path(db['path']).name}` ({db['bytes'] / 1e6:.1f} MB at the end of its"
            " scenario); removed after the run."
        )
    add("")

    # rtt
    rtt_rows = [r for r in rows if r["scenario"] == "rtt"]
    if rtt_rows:
        add("## rtt: authenticated `ping` -> `pong` round trips\n")
        add(
            f"`{command_for('rtt', bench.quick)}`. Each connection keeps one ping in flight;"
            " baselines echo the frame back (plain echo). 1 s warm-up, 5 s measured.\n"
        )
        add(
            "| C | server | round trips/s | p50 ms | p99 ms | vs trio-websocket | vs websockets"
            " | vs FastAPI | server CPU | client CPU | other CPU | saturated |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for count in sorted({r["connections"] for r in rtt_rows}):
            base = {b: find(rows, "rtt", b, connections=count) for b in BASELINES}
            for r in [r for r in rtt_rows if r["connections"] == count]:
                rate = r.get("round_trips_per_s")
                ratios = [
                    ratio(rate, base[b].get("round_trips_per_s")) if r["server"] == "netra" else ""
                    for b in BASELINES
                ]
                add(
                    f"| {count} | {SERVER_LABELS[r['server']]} | {fmt(rate)} |"
                    f" {fmt(r['latency'].get('p50_ms'), 2)} | {fmt(r['latency'].get('p99_ms'), 2)}"
                    f" | {' | '.join(ratios)} | {cpu_cells(r)} | {r['saturated']} |"
                )
        add("")

    push_rows = [r for r in rows if r["scenario"] == "push"]
    if push_rows:
        add("## push: agent events to C connections (C distinct users)\n")
        add(
            f"`{command_for('push', bench.quick)}`. Our server: every connection sends one"
            " `start_agent` for `bench_emit`, which emits `n` `agent_thinking` events as fast"
            " as it can (plus `agent_started` and `agent_completed`); every event is stored in"
            " SQLite before it is sent. Baselines: one `push` command per connection, answered"
            " with `n` frames of the same fields and size, encoded per frame, nothing stored."
            " events/s = events received / (last receipt - first command sent); latency ="
            " receipt - the frame's `timestamp`.\n"
        )
        add(
            "| C | server | events/run | events/s | events/frame | bytes/event | p50 ms | p99 ms"
            " | vs trio-websocket | vs websockets | vs FastAPI | server CPU | client CPU |"
            " other CPU | saturated |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for count in sorted({r["connections"] for r in push_rows}):
            base = {b: find(rows, "push", b, connections=count) for b in BASELINES}
            for r in [r for r in push_rows if r["connections"] == count]:
                rate = r.get("events_per_s")
                ours = r["server"].startswith("netra")
                ratios = [
                    ratio(rate, base[b].get("events_per_s")) if ours else "" for b in BASELINES
                ]
                note = f" (capped at {r['seconds']:.0f} s)" if r.get("timed_out") else ""
                add(
                    f"| {count} | {SERVER_LABELS[r['server']]} | {r['events_per_run']} |"
                    f" {fmt(rate)}{note} | {fmt(r.get('events_per_frame'), 1)} |"
                    f" {fmt(r.get('bytes_per_event'))} | {fmt(r['latency'].get('p50_ms'), 1)} |"
                    f" {fmt(r['latency'].get('p99_ms'), 1)} | {' | '.join(ratios)} |"
                    f" {cpu_cells(r)} | {r['saturated']} |"
                )
        add("")

    agent_rows = [r for r in rows if r["scenario"] == "agents"]
    if agent_rows:
        add("## agents: end-to-end `agent_request` runs\n")
        add(
            f"`{command_for('agents', bench.quick)}`. {agent_rows[0]['connections']} users, one"
            " connection each, each keeping one `agent_request` in flight (content:"
            f' "{AGENT_CONTENT}"); the built-in `supervisor` runs triage and optimization and'
            " writes the report. FastAPI/uvicorn runs the same agent code with the same"
            f" store-before-send (see `baseline_fastapi.py`). First requests spread over"
            f" {AGENTS_STAGGER_S:g} s, {AGENTS_WARMUP_S:g} s warm-up, {AGENTS_SECONDS:g} s"
            " measured; runs/s counts runs completed inside the window.\n"
        )
        add(
            "| server | runs/s | events/s | events/run | p50 event ms | p99 event ms | vs FastAPI"
            " | errors | server CPU | client CPU | other CPU | saturated |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|---|---|")
        fastapi = find(rows, "agents", "fastapi")
        for r in agent_rows:
            rr = (
                ratio(r.get("runs_per_s"), fastapi.get("runs_per_s"))
                if r["server"] == "netra"
                else ""
            )
            add(
                f"| {SERVER_LABELS[r['server']]} | {fmt(r.get('runs_per_s'), 1)} |"
                f" {fmt(r.get('events_per_s'))} | {fmt(r.get('events_per_run'), 1)} |"
                f" {fmt(r['latency'].get('p50_ms'), 1)} | {fmt(r['latency'].get('p99_ms'), 1)} |"
                f" {rr} | {r.get('agent_errors', 0) + r.get('error_frames', 0)} |"
                f" {cpu_cells(r)} | {r['saturated']} |"
            )
        add("")

    idle_rows = [r for r in rows if r["scenario"] == "idle"]
    if idle_rows:
        add("## idle: memory per idle authenticated connection\n")
        add(
            f"`{command_for('idle', bench.quick)}`. Server RSS (`VmRSS`) with no connection, then"
            " 3 s after each stage of idle connections is up (one user per connection for our"
            " server, each authenticated with its own token). KiB/conn = (RSS - RSS at 0) / held.\n"
        )
        add(
            "| server | connections held | server RSS MiB | KiB/conn | vs trio-websocket"
            " | failures |"
        )
        add("|---|---|---|---|---|---|")
        base_idle = find(rows, "idle", "trio_websocket")
        for r in idle_rows:
            for m in r["measurements"]:
                other = next(
                    (
                        b
                        for b in base_idle.get("measurements", [])
                        if b["connections"] and abs(b["connections"] - m["connections"]) < 50
                    ),
                    {},
                )
                rr = (
                    ratio(m.get("kib_per_connection"), other.get("kib_per_connection"))
                    if r["server"] == "netra" and m["connections"]
                    else ""
                )
                add(
                    f"| {SERVER_LABELS[r['server']]} | {m['connections']} |"
                    f" {m['server_rss_kib'] / 1024:.1f} | {fmt(m.get('kib_per_connection'), 1)} |"
                    f" {rr} | {r.get('connect_failures') or 0} |"
                )
        add("")

    prio = find(rows, "priority", "netra")
    if prio:
        add("## priority: CRITICAL latency under a LOW flood\n")
        add(
            f"`{command_for('priority', bench.quick)}`. {prio['users']} users x"
            f" {prio['connections'] // prio['users']} connections. On each user, one connection"
            f" starts `bench_paced` ({PRIORITY_EVENTS} `agent_thinking` events"
            f" {PRIORITY_INTERVAL_S * 1000:g} ms apart, CRITICAL, fanned out to all the user's"
            " connections; starts spread over 1 s); in the loaded phase the other connections flood"
            " `typing_started`/`typing_stopped` (4 in flight each, closed loop), which fans out"
            " LOW `user_typing` frames to the same connections. Latency = receipt - `timestamp`"
            " of every agent event on every connection.\n"
        )
        add(
            "| phase | CRITICAL events | p50 ms | p99 ms | max ms | typing msgs/s |"
            " user_typing recv/s | server CPU | client CPU | other CPU |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")
        for phase in ("unloaded", "loaded"):
            p = prio[phase]
            lat = p["critical_latency"]
            add(
                f"| {phase} | {fmt(p['critical_events'])} | {fmt(lat.get('p50_ms'), 2)} |"
                f" {fmt(lat.get('p99_ms'), 2)} | {fmt(lat.get('max_ms'), 1)} |"
                f" {fmt(p['typing_acks_per_s'])} | {fmt(p['user_typing_received_per_s'])} |"
                f" {cpu_cells(p)} |"
            )
        loaded_p99 = prio["loaded"]["critical_latency"].get("p99_ms")
        unloaded_p99 = prio["unloaded"]["critical_latency"].get("p99_ms")
        add(f"\nLoaded / unloaded CRITICAL p99: **{ratio(loaded_p99, unloaded_p99)}**.\n")

    cluster_lines = cluster_section(rows, bench.quick)
    if cluster_lines:
        out.extend(cluster_lines)
        add("")

    storage_lines = storage_cells.section(rows, command_for(STORAGE_SCENARIOS, bench.quick))
    if storage_lines:
        out.extend(storage_lines)
        add("")

    if bench.profiles:
        add("## profile: where our server's time goes (py-spy)\n")
        add(
            f"`{command_for('profile', bench.quick)}`: `py-spy record --rate {PROFILE_RATE}"
            f" --format raw --nonblocking` on the server process for {PROFILE_SECONDS} s of each"
            " load (separate runs from the measured ones); shares are of all"
            " samples (all threads, idle excluded). *Self* is the innermost frame; *inclusive*"
            " counts a function once per sample wherever it is on the stack.\n"
        )
        for prof in bench.profiles:
            add(f"### {prof['case']} ({prof['samples']} samples)\n")
            add("| by package (innermost frame) | % |")
            add("|---|---|")
            for name, pct in prof["areas"][:10]:
                add(f"| {name} | {pct} |")
            add("\n| top self | % | top inclusive | % |")
            add("|---|---|---|---|")
            for (a, pa), (b, pb) in zip(prof["self"], prof["inclusive"], strict=False):
                add(f"| `{a}` | {pa} | `{b}` | {pb} |")
            add("")

    add("## Targets\n")
    add(targets_table(rows))
    add("")
    add(previous.strip() if previous.strip() else ANALYSIS_PLACEHOLDER)
    add("")
    return "\n".join(out)


def cluster_section(rows: list[dict[str, Any]], quick: bool) -> list[str]:
    """The cluster cells' table (empty when none ran)."""
    cluster_rows = [r for r in rows if r["scenario"].startswith("cluster_")]
    if not cluster_rows:
        return []
    out = ["## cluster: two nodes on one Redis and one SQLite file, against one process\n"]
    scenarios = ",".join(f"cluster_{cell}" for cell in CLUSTER_CELLS)
    out.append(
        f"`{command_for(scenarios, quick)}`. Each cell runs the same load client spec twice in a"
        f" row: against one server process (in-process backplane), then against"
        f" {CLUSTER_NODES} processes of `benchmarks/netra_server.py --redis-url"
        " redis://127.0.0.1:PORT/0 --database SAME_FILE` (what `netra-trio serve` makes of"
        " those flags), on a redis-server started for the cell (`--save '' --appendonly no`,"
        " loopback) and one SQLite file, with the client's connections spread over the nodes"
        f" in turn. {CLUSTER_USERS:,} users. *push*: every user has one connection on each"
        " node (the in-process server gets the same connections); user u's `bench_emit` run"
        " (`?batch=1`) is started on node u mod 2 (even users on node A, odd on node B) and"
        " each of its events is received on both nodes, half of the receipts crossing from the"
        " node that ran it to the other (every event goes through Redis in the cluster);"
        " events/s = events received / (last receipt - first start sent); *received across"
        " nodes* counts the events received on the node that did not run them. *agents*: one"
        " connection per user, even users on node A, odd on node B, each keeping one"
        " `agent_request` in flight, as in the agents cell. *CPU ms / 1,000 events* = CPU time"
        " of every server-side process over the measured window (cluster: both nodes plus"
        " redis-server) per 1,000 agent events received; latency = receipt - the frame's"
        " `timestamp`.\n"
    )
    out.append(
        "| cell | deployment | connections | events/run | runs/s | events/s | received across"
        " nodes | p50 ms | p99 ms | CPU ms / 1,000 events | cluster / in-process"
        " | server-side CPU | client CPU | other CPU | saturated |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in CLUSTER_CELLS:
        scenario = f"cluster_{cell}"
        single = find(rows, scenario, "netra")
        for r in [r for r in cluster_rows if r["scenario"] == scenario]:
            clustered = r["server"] == "netra_cluster"
            by_process = ", ".join(
                f"{node_label(name)} {pct:.0f}%" for name, pct in process_cpu(r).items()
            )
            server_cpu = f"{fmt(r.get('server_cpu_pct'))}%" + (
                f" ({by_process})" if by_process else ""
            )
            note = f" (capped at {r['seconds']:.0f} s)" if r.get("timed_out") else ""
            rr = (
                ratio(r.get("cpu_ms_per_1k_events"), single.get("cpu_ms_per_1k_events"))
                if clustered
                else ""
            )
            label = SERVER_LABELS[r["server"]] if clustered else "netra-trio, one process"
            # push: the connections that did not start the run are on the other node
            crossed = (
                f"{fmt(r.get('events_on_receivers'))} of {fmt(r.get('events'))}"
                if clustered and cell == "push"
                else "-"
            )
            out.append(
                f"| {cell} | {label} | {fmt(r.get('connections'))} |"
                f" {fmt(r.get('events_per_run'))} | {fmt(r.get('runs_per_s'), 1)} |"
                f" {fmt(r.get('events_per_s'))}{note} | {crossed} |"
                f" {fmt(r['latency'].get('p50_ms'), 1)} |"
                f" {fmt(r['latency'].get('p99_ms'), 1)} | {fmt(r.get('cpu_ms_per_1k_events'), 1)}"
                f" | {rr} | {server_cpu} | {fmt(r.get('client_cpu_pct'))}% |"
                f" {fmt(r.get('other_cpu_pct'))}% | {r['saturated']} |"
            )
    return out


ANALYSIS_PLACEHOLDER = (
    "<!-- analysis:start -->\n## Analysis\n\n(Written by hand after a run; kept across runs.)\n"
    "<!-- analysis:end -->"
)


def targets_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]

    def line(target: str, measured: str, ok: bool | None) -> None:
        lines.append(f"| {target} | {measured} | {'yes' if ok else 'no' if ok is False else '-'} |")

    for count in (100, 1000):
        ours = find(rows, "rtt", "netra", connections=count).get("round_trips_per_s")
        base = find(rows, "rtt", "trio_websocket", connections=count).get("round_trips_per_s")
        if ours and base:
            line(f"rtt C={count} >= 1.0x bare trio-websocket", ratio(ours, base), ours >= base)
    push = find(rows, "push", "netra_batch", connections=1000)
    base_push = find(rows, "push", "trio_websocket", connections=1000)
    if push:
        rate = push.get("events_per_s", 0)
        line("push C=1000 batch=1 >= 205k events/s", f"{rate:,.0f}", rate >= 205_000)
        if base_push:
            r = rate / base_push["events_per_s"]
            line("push C=1000 batch=1 >= 6x bare trio-websocket", f"{r:.2f}x", r >= 6)
        p99 = push["latency"].get("p99_ms")
        line("push p99 <= 50 ms (C=1000, batch=1)", f"{p99} ms", p99 is not None and p99 <= 50)
    idle = find(rows, "idle", "netra")
    if idle:
        top = idle["measurements"][-1]
        kib = top.get("kib_per_connection")
        line(
            "idle <= 24 KiB/conn, 10k connections held",
            f"{kib} KiB/conn at {top['connections']} held",
            kib is not None and kib <= 24 and top["connections"] >= 10_000,
        )
    prio = find(rows, "priority", "netra")
    if prio:
        loaded = prio["loaded"]["critical_latency"].get("p99_ms")
        unloaded = prio["unloaded"]["critical_latency"].get("p99_ms")
        if loaded and unloaded:
            line(
                "priority: CRITICAL p99 under LOW flood <= 2x unloaded",
                f"{loaded} vs {unloaded} ms ({loaded / unloaded:.2f}x)",
                loaded <= 2 * unloaded,
            )
    for cell in CLUSTER_CELLS:
        clustered = find(rows, f"cluster_{cell}", "netra_cluster")
        single = find(rows, f"cluster_{cell}", "netra")
        ours, theirs = clustered.get("cpu_ms_per_1k_events"), single.get("cpu_ms_per_1k_events")
        if ours and theirs:
            line(
                f"cluster {cell}: CPU per 1,000 events (nodes + redis) <="
                f" {CLUSTER_CPU_RATIO_TARGET:g}x one process",
                f"{ours:.1f} vs {theirs:.1f} ms ({ours / theirs:.2f}x)",
                ours / theirs <= CLUSTER_CPU_RATIO_TARGET,
            )
        p99 = clustered.get("latency", {}).get("p99_ms")
        if cell == "push" and clustered:
            line(
                f"cluster push p99 <= {CLUSTER_P99_TARGET_MS:g} ms ({clustered.get('users'):,}"
                f" users over {CLUSTER_NODES} nodes)",
                f"{p99} ms",
                p99 is not None and p99 <= CLUSTER_P99_TARGET_MS,
            )
    for scenario, key, server in (
        ("push", "events_per_s", "netra_batch"),
        ("agents", "runs_per_s", "netra"),
    ):
        for count in (100, 1000):
            ours = find(rows, scenario, server, connections=count).get(key)
            theirs = find(rows, scenario, "fastapi", connections=count).get(key)
            if ours and theirs:
                line(
                    f"{scenario} C={count} ahead of FastAPI/uvicorn",
                    ratio(ours, theirs),
                    ours > theirs,
                )
    return "\n".join(lines)


STORAGE_SCENARIOS = ",".join(f"storage_{cell}" for cell in STORAGE_CELLS)


def command_for(scenario: str, quick: bool) -> str:
    return f"python -m benchmarks.run {'--quick ' if quick else ''}--scenarios {scenario}"


def quick_line(rows: list[dict[str, Any]]) -> str:
    rtt = find(rows, "rtt", "netra", connections=100).get("round_trips_per_s", 0)
    rtt_base = find(rows, "rtt", "trio_websocket", connections=100).get("round_trips_per_s", 0)
    push = find(rows, "push", "netra_batch", connections=1000)
    push_base = find(rows, "push", "trio_websocket", connections=1000).get("events_per_s", 0)
    rate = push.get("events_per_s", 0)
    p99 = push.get("latency", {}).get("p99_ms", 0)
    return (
        f"bench-quick: rtt_ratio_vs_trio_websocket={rtt / rtt_base if rtt_base else 0:.2f}"
        f" push_events_per_s={rate:.0f}"
        f" push_ratio_vs_trio_websocket={rate / push_base if push_base else 0:.2f}"
        f" p99_push_ms={p99:.1f}"
    )


def run_storage_cells(bench: Bench, scenarios: Sequence[str]) -> None:
    """The storage cells asked for, each on the push or agents cell's spec for
    ``storage_cells.USERS`` users."""
    users = storage_cells.USERS
    for cell in STORAGE_CELLS:
        if f"storage_{cell}" in scenarios:
            if cell == "push":
                spec = bench._push_spec("netra_batch", users, bench._push_events(users))
            else:
                spec = bench._agents_cell_spec(users)
            storage_cells.run_cell(bench, cell, spec, users)


def push_cells(cell: str) -> int:
    server, count, times = cell.split(":")
    workdir = Path(tempfile.mkdtemp(prefix="netra-bench-"))
    bench = Bench(False, workdir)
    try:
        for _ in range(int(times)):
            bench.push((server,), (int(count),))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for row in bench.rows:
        print(
            f"push {server} C={count}: {row['events_per_s']:,.0f} events/s,"
            f" p50 {row['latency'].get('p50_ms')} ms, p99 {row['latency'].get('p99_ms')} ms,"
            f" server CPU {row.get('server_cpu_pct')}%, client CPU {row.get('client_cpu_pct')}%",
            flush=True,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="rtt C=100 and push C=1000, < 60 s")
    parser.add_argument(
        "--scenarios",
        default=None,
        help=f"comma-separated, from {','.join(ALL_SCENARIOS)} (default: all; --quick: rtt,push)",
    )
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"), help="where to write")
    parser.add_argument("--keep-temp", action="store_true", help="keep databases and logs")
    parser.add_argument(
        "--push-cell",
        metavar="SERVER:C:TIMES",
        help="only the push cell of SERVER (e.g. netra_batch) at C connections, TIMES times"
        " back to back; prints one line per run and writes nothing (for A/B steps)",
    )
    args = parser.parse_args(argv)
    if args.push_cell:
        return push_cells(args.push_cell)
    scenarios = (
        tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
        if args.scenarios
        else (("rtt", "push") if args.quick else ALL_SCENARIOS)
    )
    unknown = set(scenarios) - set(ALL_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="netra-bench-"))
    bench = Bench(args.quick, workdir)
    log(f"work directory (databases, server logs): {workdir}")
    try:
        if args.quick:
            if "rtt" in scenarios:
                bench.rtt(("netra", "trio_websocket"), (100,))
            if "push" in scenarios:
                bench.push(("netra_batch", "trio_websocket"), (1000,))
            for cell in CLUSTER_CELLS:
                if f"cluster_{cell}" in scenarios:
                    bench.cluster(cell)
            run_storage_cells(bench, scenarios)
        else:
            if "rtt" in scenarios:
                bench.rtt(("netra", *BASELINES), (1, 100, 1000))
            if "push" in scenarios:
                bench.push(("netra", "netra_batch", *BASELINES), (100, 1000))
            if "agents" in scenarios:
                bench.agents(("netra", "fastapi"), 1000)
            if "idle" in scenarios:
                bench.idle(("netra", *BASELINES), (5000, 10_000))
            if "priority" in scenarios:
                bench.priority()
            for cell in CLUSTER_CELLS:
                if f"cluster_{cell}" in scenarios:
                    bench.cluster(cell)
            run_storage_cells(bench, scenarios)
            if "profile" in scenarios:
                bench.profile()
    finally:
        storage_cells.close(bench)
        if not args.keep_temp:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - t0
    if args.quick:
        cluster_lines = cluster_section(bench.rows, quick=True)
        if cluster_lines:
            print("\n".join(cluster_lines[2:]), flush=True)
            print(targets_table([r for r in bench.rows if r["scenario"].startswith("cluster_")]))
        storage_lines = storage_cells.section(bench.rows, command_for(STORAGE_SCENARIOS, True))
        if storage_lines:
            print("\n".join(line for line in storage_lines[2:] if line), flush=True)
        if {"rtt", "push"} & set(scenarios):
            print(quick_line(bench.rows), flush=True)
        return 0
    command = "python -m benchmarks.run" + (
        f" --scenarios {','.join(scenarios)}" if args.scenarios else ""
    )
    output = Path(args.output)
    previous = ""
    if output.exists():
        text = output.read_text()
        if "<!-- analysis:start -->" in text and "<!-- analysis:end -->" in text:
            previous = text[
                text.index("<!-- analysis:start -->") : text.index("<!-- analysis:end -->")
            ]
            previous += "<!-- analysis:end -->"
    output.write_text(markdown(bench, command, started, elapsed, previous))
    (output.parent / "results.json").write_text(
        json.dumps(
            {
                "started": started,
                "command": command,
                "rows": bench.rows,
                "profiles": bench.profiles,
            },
            indent=1,
        )
    )
    log(f"wrote {output} ({elapsed / 60:.1f} min)")
    with contextlib.suppress(BrokenPipeError):
        print(targets_table(bench.rows), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
