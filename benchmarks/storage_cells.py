"""The storage cells: ``storage_push`` and ``storage_agents`` (``python -m
benchmarks.run --scenarios storage_push,storage_agents``).

Each cell runs the same load client spec against our server three times in a
row, on three backends, both on this machine's disk:

- ``sqlite``: a fresh SQLite file in the run's temp directory (WAL,
  ``synchronous = NORMAL``: what every other cell of the benchmarks uses);
- ``postgresql``: a fresh database (``CREATE DATABASE`` per server start) on one
  PostgreSQL cluster that the runner starts for the run and removes after it,
  made by ``tests/postgres_server.py`` with ``durable=True`` (``fsync = on``,
  ``full_page_writes = on``, ``synchronous_commit = on``: every commit waits for
  its WAL to be flushed, as in a real deployment); the server is given
  ``--database postgresql://netra@127.0.0.1:PORT/DB``;
- ``postgresql_nosync`` (not in ``--quick``): the same with ``ALTER DATABASE ...
  SET synchronous_commit = off`` on its fresh database, so that a commit does
  not wait for the flush. That is about SQLite's promise under ``synchronous =
  NORMAL`` (a crash of the machine may lose the last commits, never
  consistency), and the difference between the two PostgreSQL rows is what
  waiting for the flush costs.

The cells: ``push`` is the push cell's C=1000 ``?batch=1`` load (one user per
connection, one ``bench_emit`` run of 300 events each, every event stored
before it is sent); ``agents`` is the agents cell's load (1,000 users, one
``agent_request`` in flight each; each run stores a thread, messages, the run's
record and ~21 events).

Per row: events/s, emit-to-receipt p50/p99 (receipt - the frame's
``timestamp``), and the server side's CPU per event received over the
measured window: our server's process (its event loop's thread, and its other
threads: the storage worker threads) plus, for PostgreSQL, the postmaster's
whole process tree (``procstat.tree_cpu_seconds``: backends, WAL writer,
checkpointer, background writer, autovacuum, and the children that exited in
the window), each also by part. The PostgreSQL rows also carry the cluster's
own counters over the server's whole life in the cell (start, load,
shutdown), taken before the server starts and after it stops, from
``pg_stat_wal`` (``track_wal_io_timing = on``: the time of each WAL write and
flush), ``pg_stat_database``, ``pg_stat_bgwriter`` and ``pg_stat_user_functions``
(``track_functions = pl``: the calls of the event log's append function and
the time inside it), divided by the events the database holds at the end, and
from ``pg_stat_user_tables`` the scans of the ``events`` table over the fresh
database's life: sequential scans and the rows they read, index scans (an
append that reads the whole table shows as a sequential scan per append).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from benchmarks import procstat
from benchmarks.harness import ServerProcess, fmt, log, ratio

STORAGE_CELLS = ("push", "agents")
BACKENDS = ("sqlite", "postgresql", "postgresql_nosync")
QUICK_BACKENDS = ("sqlite", "postgresql")
BACKEND_LABELS = {
    "sqlite": "SQLite file (WAL, synchronous=NORMAL)",
    "postgresql": "PostgreSQL (fsync, synchronous_commit=on)",
    "postgresql_nosync": "PostgreSQL, synchronous_commit=off",
}
USERS = 1000
# what the cluster's counters add to tests/postgres_server.py's settings
PG_SETTINGS = {"track_wal_io_timing": "on", "track_functions": "pl"}
STATS_SETTLE_S = 1.0  # the WAL writer reports its counters every wal_writer_delay or so
APPEND_FUNCTION = "netra_append_events"
PARTS = (
    ("loop", "loop thread"),
    ("threads", "other threads"),
    ("pg_backends", "pg backends"),
    ("pg_walwriter", "pg WAL writer"),
    ("pg_checkpointer", "pg checkpointer + bgwriter"),
    ("pg_other", "pg postmaster, autovacuum, exited"),
)


class Runner(Protocol):
    """What the cells use of the scenario runner (``benchmarks.run.Bench``)."""

    quick: bool
    workdir: Path
    secret: str
    postgres: Any  # the run's PostgresForRun, made on first use

    def measure(
        self,
        kind: str,
        spec: dict[str, Any],
        deploy: Callable[[], Any] | None = None,
        annotate: Callable[[Any, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]: ...

    def record(self, row: dict[str, Any]) -> dict[str, Any]: ...


class PostgresForRun:
    """The run's one PostgreSQL cluster, started on first use, removed by
    :meth:`close`."""

    def __init__(self) -> None:
        self.server: Any = None

    def get(self) -> Any:
        if self.server is None:
            from tests.postgres_server import PostgresServer

            server = PostgresServer(durable=True, settings=PG_SETTINGS)
            try:
                server.start()
            except BaseException:
                server.remove()
                raise
            self.server = server
            log(f"PostgreSQL cluster in {server.workdir} on port {server.port} (fsync on)")
        return self.server

    @property
    def postmaster(self) -> int:
        """The postmaster's pid (first line of ``postmaster.pid`` in the data directory)."""
        return int((Path(self.server.data) / "postmaster.pid").read_text().split()[0])

    def close(self) -> None:
        if self.server is not None:
            self.server.remove()
            self.server = None


class StorageServer(ServerProcess):
    """Our server on one backend, with its CPU by part (``cpu_parts``)."""

    def __init__(
        self, backend: str, workdir: Path, secret: str, postgres: PostgresForRun | None
    ) -> None:
        self.backend = backend
        self.postgres = postgres
        self.url: str | None = None
        self.dbname = ""
        self.pg_before: dict[str, float] = {}
        self.started = time.monotonic()
        if postgres is not None:
            server = postgres.get()
            self.url = server.create_database()
            self.dbname = self.url.rsplit("/", 1)[1]
            if backend == "postgresql_nosync":
                _pg_execute(
                    server.url(), f'ALTER DATABASE "{self.dbname}" SET synchronous_commit = off'
                )
            self.pg_before = pg_counters(server, self.dbname)
        super().__init__("netra", workdir, secret, database_url=self.url)

    @property
    def cpu_pids(self) -> dict[str, int]:
        pids = {"netra": self.pid}
        if self.postgres is not None:
            pids["postgres"] = self.postgres.postmaster
        return pids

    @property
    def cpu_trees(self) -> frozenset[int]:
        return frozenset([self.postgres.postmaster]) if self.postgres is not None else frozenset()

    def cpu_parts(self) -> dict[str, float]:
        parts = dict.fromkeys(key for key, _ in PARTS if self.postgres or not key.startswith("pg"))
        try:
            threads = procstat.thread_cpu_seconds(self.pid)
        except OSError:
            return {}
        parts["loop"] = threads.get(self.pid, 0.0)
        parts["threads"] = sum(t for tid, t in threads.items() if tid != self.pid)
        if self.postgres is not None:
            parts.update(postgres_parts(self.postgres.postmaster))
        return {key: value or 0.0 for key, value in parts.items()}


def postgres_parts(postmaster: int) -> dict[str, float]:
    """CPU seconds of the postmaster's tree by role (from each process's title)."""
    own, reaped = procstat.own_and_children_cpu_seconds(postmaster)
    parts = {"pg_backends": 0.0, "pg_walwriter": 0.0, "pg_checkpointer": 0.0}
    parts["pg_other"] = own + reaped
    for child in procstat.children(postmaster):
        try:
            seconds = procstat.tree_cpu_seconds(child)
        except OSError:
            continue
        title = procstat.cmdline(child)
        if "walwriter" in title:
            role = "pg_walwriter"
        elif "checkpointer" in title or "background writer" in title:
            role = "pg_checkpointer"
        elif "(" in title:  # postgres: USER DB HOST(PORT) STATE: a client's backend
            role = "pg_backends"
        else:  # autovacuum launcher and workers, logical replication launcher
            role = "pg_other"
        parts[role] += seconds
    return parts


def _pg_execute(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def pg_counters(server: Any, dbname: str) -> dict[str, float]:
    """The cluster's counters that the PostgreSQL rows report, now."""
    import psycopg

    queries = {
        "pg_stat_wal": (
            "SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync, wal_write_time,"
            " wal_sync_time FROM pg_stat_wal",
            (),
        ),
        "pg_stat_database": (
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,"
            " blks_read, blks_hit, active_time FROM pg_stat_database WHERE datname = %s",
            (dbname,),
        ),
        "pg_stat_bgwriter": (
            "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_clean,"
            " buffers_backend FROM pg_stat_bgwriter",
            (),
        ),
    }
    counters: dict[str, float] = {}
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for query, params in queries.values():
            cursor = conn.execute(query, params)
            row = cursor.fetchone()
            names = [column.name for column in cursor.description or ()]
            counters.update({n: float(v or 0) for n, v in zip(names, row or (), strict=False)})
    return counters


def pg_after(server: StorageServer) -> dict[str, Any]:
    """What the cell did to the cluster: counters' differences, and what the
    database holds."""
    import psycopg

    pg = server.postgres
    assert pg is not None and server.url is not None
    time.sleep(STATS_SETTLE_S)
    after = pg_counters(pg.get(), server.dbname)
    delta = {name: after[name] - server.pg_before.get(name, 0.0) for name in after}
    with psycopg.connect(server.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0), coalesce(sum(self_time), 0)"
            " FROM pg_stat_user_functions WHERE funcname = %s",
            (APPEND_FUNCTION,),
        ).fetchone()
        delta["append_calls"], delta["append_ms"] = (float(v) for v in row or (0, 0))
        # read before the count below, which scans the table itself
        row = conn.execute(
            "SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0) FROM pg_stat_user_tables"
            " WHERE relname = 'events'"
        ).fetchone()
        if row is not None:
            names = ("events_seq_scan", "events_seq_rows", "events_idx_scan")
            delta.update({name: float(v) for name, v in zip(names, row, strict=True)})
        (stored,) = conn.execute("SELECT count(*) FROM events").fetchone() or (0,)
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
    with contextlib.suppress(Exception):  # keep the disk clear for the next cells
        _pg_execute(pg.get().url(), f'DROP DATABASE "{server.dbname}"')
    return {"stored_events": int(stored), "database_bytes": int(size), "pg": delta}


def sqlite_after(server: StorageServer) -> dict[str, Any]:
    path = server.database
    if path is None or not path.exists():
        return {}
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (stored,) = db.execute("SELECT count(*) FROM events").fetchone()
    return {"stored_events": int(stored), "database_bytes": size}


# -- the cells ------------------------------------------------------------------------------


def postgres_for(bench: Runner) -> PostgresForRun:
    if bench.postgres is None:
        bench.postgres = PostgresForRun()
    pg: PostgresForRun = bench.postgres
    return pg


def close(bench: Runner) -> None:
    """Stop and remove the run's PostgreSQL cluster, if one was started."""
    if bench.postgres is not None:
        bench.postgres.close()


def run_cell(bench: Runner, cell: str, spec: dict[str, Any], users: int = USERS) -> None:
    """``cell`` (``push`` or ``agents``: the runner's spec of that load for
    ``users`` users) on each backend in turn, the same spec."""
    if cell not in STORAGE_CELLS:
        raise ValueError(f"unknown storage cell {cell!r}")
    pg = postgres_for(bench)
    try:
        pg.get()
    except RuntimeError as exc:
        log(f"PostgreSQL cannot be started ({exc}): skipping the storage_{cell} cell")
        return
    for backend in QUICK_BACKENDS if bench.quick else BACKENDS:

        def deploy(backend: str = backend) -> StorageServer:
            postgres = pg if backend.startswith("postgresql") else None
            return StorageServer(backend, bench.workdir, bench.secret, postgres)

        def annotate(server: StorageServer, result: dict[str, Any]) -> None:
            result["cell_s"] = round(time.monotonic() - server.started, 1)
            result.update(pg_after(server) if server.postgres is not None else sqlite_after(server))

        result = bench.measure("netra", spec, deploy, annotate)
        row = {"scenario": f"storage_{cell}", "server": backend, "users": users, **result}
        events, cpu_s = row.get("events") or 0, row.get("server_cpu_s")
        row["cpu_us_per_event"] = round(cpu_s * 1e6 / events, 1) if events and cpu_s else None
        row["parts_us_per_event"] = {
            name: round(seconds * 1e6 / events, 1)
            for name, seconds in (row.get("parts_cpu_s") or {}).items()
            if events
        }
        if cell == "push":
            row["events_per_run"] = spec["expected_events"] - 2
        bench.record(row)
        row["saturated"] = saturation(row)


def saturation(row: dict[str, Any]) -> str:
    """Which process ran out of CPU first (our server's threads share one GIL, so
    the process tops out near one core); the machine's cores, when they all did."""
    netra = row.get("netra_cpu_pct", row.get("server_cpu_pct", 0.0))
    postgres = row.get("postgres_cpu_pct")
    client, other = row.get("client_cpu_pct", 0.0), row.get("other_cpu_pct", 0.0)
    pg = f", postgres {postgres:.0f}%" if postgres is not None else ""
    busy = f"netra {netra:.0f}%{pg}, client {client:.0f}%"
    if other > 25.0:
        return f"contended: other processes {other:.0f}% ({busy})"
    parts = row.get("parts_cpu_s") or {}
    window = row.get("window_s") or 0.0
    loop, threads = (
        (100.0 * parts.get(key, 0.0) / window if window else 0.0) for key in ("loop", "threads")
    )
    threads_text = f"loop thread {loop:.0f}%, other threads {threads:.0f}%"
    if netra >= 90:
        return f"server process ({netra:.0f}%: {threads_text}{pg})"
    total = netra + (postgres or 0.0) + client + other
    if total >= 180:
        return f"machine ({total:.0f}% of 200%: {busy})"
    return f"neither ({busy}; {threads_text})"


# -- reporting ------------------------------------------------------------------------------


def section(rows: list[dict[str, Any]], command: str) -> list[str]:
    """The storage cells' tables (empty when none ran)."""
    storage_rows = [r for r in rows if r["scenario"].startswith("storage_")]
    if not storage_rows:
        return []
    out = ["## storage: PostgreSQL against SQLite, the same loads\n"]
    out.append(
        f"`{command}`. Each cell runs the same load client spec against our server on each"
        " backend in turn, on this machine's disk: a fresh SQLite file (WAL,"
        " `synchronous=NORMAL`, as in every other cell), then a fresh database on one"
        " PostgreSQL cluster started for the run (`tests/postgres_server.py`, `durable=True`:"
        " `fsync=on`, `synchronous_commit=on`; `shared_buffers=128MB`, plus"
        " `track_wal_io_timing=on` and `track_functions=pl` for the counters below), then"
        " (full runs) the same with `synchronous_commit=off` on that database. *push*:"
        f" {USERS:,} users, one connection each, one `bench_emit` run of 300 events each"
        " (`?batch=1`); events/s = events received / (last receipt - first start sent)."
        f" *agents*: {USERS:,} users each keeping one `agent_request` in flight, as in the"
        " agents cell. Latency = receipt - the frame's `timestamp`. *CPU us / event* = CPU"
        " time of our server's process plus (PostgreSQL) the postmaster's whole process tree"
        " over the measured window, per event received; by part: the server's event loop"
        " thread, its other threads (the storage workers), the PostgreSQL backends (the"
        " server's two connections), the WAL writer, checkpointer and background writer, and"
        " the rest (postmaster, autovacuum, processes that exited in the window).\n"
    )
    out.append(
        "| cell | backend | events/s | p50 ms | p99 ms | CPU us / event | loop thread |"
        " other threads | pg backends | pg WAL writer | pg checkpointer + bgwriter | pg other"
        " | events/s vs SQLite | p99 vs SQLite | CPU/event vs SQLite | netra CPU | postgres CPU"
        " | client CPU | other CPU | saturated |"
    )
    out.append("|" + "---|" * 20)
    for cell in STORAGE_CELLS:
        cell_rows = [r for r in storage_rows if r["scenario"] == f"storage_{cell}"]
        base = next((r for r in cell_rows if r["server"] == "sqlite"), {})
        for r in cell_rows:
            parts = r.get("parts_us_per_event") or {}
            lat = r.get("latency") or {}
            vs = (
                [
                    ratio(r.get("events_per_s"), base.get("events_per_s")),
                    ratio(lat.get("p99_ms"), (base.get("latency") or {}).get("p99_ms")),
                    ratio(r.get("cpu_us_per_event"), base.get("cpu_us_per_event")),
                ]
                if r is not base
                else ["", "", ""]
            )
            note = f" (capped at {r['seconds']:.0f} s)" if r.get("timed_out") else ""
            postgres = r.get("postgres_cpu_pct")
            out.append(
                f"| {cell} | {BACKEND_LABELS[r['server']]} | {fmt(r.get('events_per_s'))}{note}"
                f" | {fmt(lat.get('p50_ms'), 1)} | {fmt(lat.get('p99_ms'), 1)} |"
                f" {fmt(r.get('cpu_us_per_event'), 1)} | "
                + " | ".join(fmt(parts.get(key), 1) for key, _ in PARTS)
                + f" | {' | '.join(vs)} |"
                f" {fmt(r.get('netra_cpu_pct', r.get('server_cpu_pct')))}% |"
                f" {'-' if postgres is None else f'{postgres:.0f}%'} |"
                f" {fmt(r.get('client_cpu_pct'))}% | {fmt(r.get('other_cpu_pct'))}% |"
                f" {r.get('saturated', '')} |"
            )
    out.append("")
    out.append(
        "What the database did over each server's whole life in the cell (start, load,"
        " shutdown), per event it holds at the end; PostgreSQL from its own counters"
        " (`pg_stat_wal`, `pg_stat_database`, `pg_stat_bgwriter`, `pg_stat_user_functions`),"
        " differences over the cell. *appends*: calls of the event log's append function"
        " (one per batch: one statement in one transaction); *ms / append*: time inside it,"
        " on the server; *WAL flushes*: `pg_stat_wal.wal_sync` (fsyncs of the WAL, by"
        " backends at commit and by the WAL writer); *active ms / s*: `active_time` (the"
        " backends executing statements) per second of the cell; *events: seq scans (rows"
        " read), index scans*: `pg_stat_user_tables` for the `events` table over the fresh"
        " database's life.\n"
    )
    out.append(
        "| cell | backend | events stored | database MB | appends | events / append | ms /"
        " append | transactions / 1,000 events | WAL bytes / event | WAL flushes / 1,000"
        " events | ms / WAL flush | WAL write + flush s | checkpoints | active ms / s |"
        " events: seq scans (rows read), index scans |"
    )
    out.append("|" + "---|" * 15)
    for cell in STORAGE_CELLS:
        for r in [r for r in storage_rows if r["scenario"] == f"storage_{cell}"]:
            stored = r.get("stored_events") or 0
            pg = r.get("pg")
            size = fmt((r.get("database_bytes") or 0) / 1e6, 1)
            if not pg or not stored:
                out.append(
                    f"| {cell} | {BACKEND_LABELS[r['server']]} | {fmt(stored)} | {size} |"
                    + " - |" * 11
                )
                continue
            calls = pg.get("append_calls") or 0
            syncs = pg.get("wal_sync") or 0
            io_s = ((pg.get("wal_write_time") or 0) + (pg.get("wal_sync_time") or 0)) / 1000
            out.append(
                f"| {cell} | {BACKEND_LABELS[r['server']]} | {fmt(stored)} | {size} |"
                f" {fmt(calls)} | {fmt(stored / calls if calls else None, 1)} |"
                f" {fmt(pg['append_ms'] / calls if calls else None, 2)} |"
                f" {fmt(1000 * pg.get('xact_commit', 0) / stored, 1)} |"
                f" {fmt(pg.get('wal_bytes', 0) / stored)} | {fmt(1000 * syncs / stored, 1)} |"
                f" {fmt(pg.get('wal_sync_time', 0) / syncs if syncs else None, 2)} |"
                f" {fmt(io_s, 1)} |"
                f" {fmt(pg.get('checkpoints_timed', 0) + pg.get('checkpoints_req', 0))} |"
                f" {fmt(pg.get('active_time', 0) / r['cell_s'] if r.get('cell_s') else None)} |"
                f" {scans_cell(pg)} |"
            )
    return out


def scans_cell(pg: dict[str, float]) -> str:
    """``seq scans (rows read), index scans`` of the events table (``-`` when not read)."""
    if "events_seq_scan" not in pg:
        return "-"
    seq, rows, index = (
        fmt(pg[key]) for key in ("events_seq_scan", "events_seq_rows", "events_idx_scan")
    )
    return f"{seq} ({rows}), {index}"
