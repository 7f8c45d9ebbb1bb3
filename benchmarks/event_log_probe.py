"""Where a cluster's event log should live, measured: ``python -m benchmarks.event_log_probe``.

Not a scenario of the run (no server, no WebSocket client): it appends one
workload of agent events, batch after batch, through two designs of the log,
each on a redis-server of its own started here, and reports what each costs.

- **(a) the database log, as the server does now**: each batch numbered from
  each user's last seq kept in memory, its frames rendered, stored by the real
  ``SqliteStorage.open(...).events.append`` (its worker thread, one multi-row
  INSERT, a file on disk in ``$TMPDIR``), then published by the real
  ``RedisBackplane.publish``: one PUBLISH per user of the batch, pipelined.
  Two stages with a channel of one between them, as in the event log (batch N
  published while N+1 is stored).
- **(b) the log in Redis, as Centrifugo's Redis engine keeps it**: one Lua
  script per batch (coredis ``register_script``) that, for each user of the
  batch, INCRBYs the user's seq counter, XADDs each event (the seq as its
  stream id, ``MAXLEN ~ 10000``) and PUBLISHes the user's events (the
  backplane's own message format), then answers each user's first seq, from
  which the node joins the frames for its own connections (each frame is
  rendered once, cut at its seq: the script joins it around the seq too). Numbering,
  storing and fan-out in one round trip; one batch in flight.
- **(b') the same, one script per user of the batch, pipelined**: what a Redis
  Cluster requires (a script's keys must share a slot; a user's keys carry the
  user as hash tag). Only for batches of several users (with one it is (b)).

Every design publishes to a channel per user with one subscriber (a separate
process that drains its socket: the other node), so redis-server does the
fan-out work it does in a cluster. Each redis configuration is its own
redis-server: ``--save '' --appendonly no`` (what the cluster cells run) and
``--appendonly yes --appendfsync everysec`` (what durability of the Redis log
costs). Batches: 1 event (one user), and 32 events of ``32 / --per-user``
users with ``--per-user`` consecutive events each (a run's burst, as the
event log takes them from its queue). Frames are ``agent_thinking`` frames as
the codec renders them (~330 bytes, as in the push cells).

Reported per cell, over ``--seconds`` after a warm-up, closed loop (the next
batch as soon as the stage is free): events/s; p50/p99 of a batch's latency
(formed -> published: for (a) numbered, stored, published; for (b) the
script's round trip and the frames); CPU ms per 1,000 events of this process
(the event loop, coredis and SQLite's worker thread) plus redis-server
(``/proc``, with its children: an AOF rewrite forks); storage per event (the
SQLite file once closed, or the growth of Redis's ``used_memory``: with a few
events per user so far, a stream's fixed cost weighs on it; the last line
gives a stream's memory per entry at its bound); ratios against (a) with the
same batch on the same redis-server. The subscriber's CPU is the same in every
design and not counted.

Then, on the first redis-server, the receiving side, which is the same in
every design (one message per user per batch, in the backplane's format): a
receiver process (``--receive``) runs the real ``RedisBackplane.run``,
subscribed to every user, and hands on ``--received-events`` events published
with 1, 4 and 16 events per message; its CPU per event received.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import coredis
import orjson
import trio

from benchmarks import procstat
from benchmarks.harness import RedisProcess
from netra_trio.backplane.notices import Notice
from netra_trio.backplane.redis import RedisBackplane
from netra_trio.protocol.codec import encode
from netra_trio.storage.records import ReplayWindow, StoredEvent
from netra_trio.storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "probe:"
MAXLEN = 10_000
CONTENDED_PCT = 25.0  # other processes' CPU (% of a core) past which a cell is measured again
RETRIES = 2
ORIGIN = "probe-node "
THOUGHT = "Pricing gpt-4o against gpt-4o-mini at 2M requests/day, 1.5k tokens in"

# KEYS: per user of the batch, its seq counter then its stream. ARGV[1]: the
# origin (the publishing node's id and a space), ARGV[2]: the streams' length
# bound, ARGV[3]: the channel prefix; then per user: its id, its event count n,
# then per event: its meta line after the seq, its frame before the seq, its
# frame after the seq. Answers each user's first seq.
APPEND = """
local origin, maxlen, prefix = ARGV[1], ARGV[2], ARGV[3]
local firsts, a = {}, 4
for k = 1, #KEYS, 2 do
  local user, n = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local last = redis.call('INCRBY', KEYS[k], n)
  local seq = last - n
  local lines = {}
  for i = 1, n do
    seq = seq + 1
    local frame = ARGV[a + 1] .. seq .. ARGV[a + 2]
    redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', maxlen, seq, 'f', frame)
    lines[i] = '[' .. seq .. ARGV[a] .. '\\t' .. frame
    a = a + 3
  end
  redis.call('PUBLISH', prefix .. user, origin .. table.concat(lines, '\\n'))
  firsts[#firsts + 1] = last - n + 1
end
return firsts
"""

# One user's stream filled past its bound with copies of a frame (ARGV[1]),
# ARGV[2] entries under MAXLEN ~ ARGV[3]: what retention keeps in memory.
FILL = """
for seq = 1, tonumber(ARGV[2]) do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], seq, 'f', ARGV[1])
end
return redis.call('XLEN', KEYS[1])
"""

# The other node: subscribes to every user's channel, says so, then drains.
SUBSCRIBER = r"""
import socket, sys
port, channels = int(sys.argv[1]), sys.argv[2:]
conn = socket.create_connection(("127.0.0.1", port))
parts = [b"SUBSCRIBE", *(c.encode() for c in channels)]
conn.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
seen = b""
while seen.count(b"$9\r\nsubscribe\r\n") < len(channels):
    seen += conn.recv(1 << 16)
print("ready", flush=True)
buffer = bytearray(1 << 20)
while conn.recv_into(buffer):
    pass
"""


def cpu_with_children(pid: int) -> float:
    """utime + stime of the process and of its waited-for children, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Subscriber:
    def __init__(self, port: int, channels: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, str(port), *channels],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the subscriber did not subscribe")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@attrs.frozen
class Event:
    """One event as a run hands it to the log."""

    user_id: str
    run_id: str
    thread_id: str
    correlation_id: str
    body: dict[str, Any]
    emitted_at: float


class Workload:
    """Batches of ``size`` events: ``size // per_user`` users in turn, each with
    ``per_user`` consecutive events of its run."""

    def __init__(self, users: int, size: int, per_user: int) -> None:
        self.users = [f"user-{i}" for i in range(users)]
        self.runs = {
            u: (uuid.uuid4().hex, uuid.uuid4().hex, f"m-{uuid.uuid4().hex[:12]}")
            for u in self.users
        }
        self.size, self.per_user = size, min(per_user, size)
        self._next_user = 0

    def batch(self) -> list[Event]:
        events = []
        now = time.time()
        for _ in range(self.size // self.per_user):
            user = self.users[self._next_user]
            self._next_user = (self._next_user + 1) % len(self.users)
            run_id, thread_id, correlation_id = self.runs[user]
            for _ in range(self.per_user):
                body = {"thought": THOUGHT, "agent_name": "optimization"}
                events.append(Event(user, run_id, thread_id, correlation_id, body, now))
        return events


def render(event: Event, seq: int) -> str:
    return encode(
        "agent_thinking",
        event.body,
        correlation_id=event.correlation_id,
        thread_id=event.thread_id,
        run_id=event.run_id,
        seq=seq,
        timestamp=event.emitted_at,
    )


@attrs.define
class Cell:
    redis: str
    batch: int
    design: str
    events: int = 0
    seconds: float = 0.0
    latencies: list[float] = attrs.Factory(list)
    probe_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    other_pct: float = 0.0
    stored_bytes: int = 0
    stored_events: int = 0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def cpu_ms_per_1k(self, part: str = "all") -> float:
        cpu = {"probe": self.probe_cpu_s, "redis": self.redis_cpu_s}.get(
            part, self.probe_cpu_s + self.redis_cpu_s
        )
        return cpu * 1e6 / self.events if self.events else 0.0

    def latency_ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


class Measure:
    """Times batches and samples CPU over the measured window only."""

    def __init__(
        self, cell: Cell, redis_pid: int, subscriber_pid: int, warmup_s: float, seconds: float
    ) -> None:
        self.cell = cell
        self._redis_pid = redis_pid
        self._watched = [os.getpid(), redis_pid, subscriber_pid]  # "other" is the rest
        self._warmup_until = time.monotonic() + warmup_s
        self._until = self._warmup_until + seconds
        self._start: tuple[float, float, float, procstat.Snapshot] | None = None

    def _cpu(self) -> tuple[float, float]:
        return cpu_with_children(os.getpid()), cpu_with_children(self._redis_pid)

    @property
    def done(self) -> bool:
        return time.monotonic() >= self._until

    def landed(self, formed: float, events: int) -> None:
        now = time.monotonic()
        if self._start is None:
            if now >= self._warmup_until:
                snapshot = procstat.Snapshot.take(self._watched)
                self._start = (now, *self._cpu(), snapshot)
            return
        if formed >= self._start[0]:
            self.cell.latencies.append(now - formed)
        self.cell.events += events

    def finish(self) -> None:
        assert self._start is not None, "no batch landed after the warm-up"
        started, probe, redis, snapshot = self._start
        now = time.monotonic()
        probe_end, redis_end = self._cpu()
        cell = self.cell
        cell.seconds = now - started
        cell.probe_cpu_s = probe_end - probe
        cell.redis_cpu_s = redis_end - redis
        end = procstat.Snapshot.take(self._watched)
        cell.other_pct = procstat.other_percent(snapshot, end)


async def used_memory(client: coredis.Redis[bytes]) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


def url_of(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def numbered(event: Event, seqs: dict[str, int], created: float) -> StoredEvent:
    """``event`` as the event log stores it: its user's next seq, its frame."""
    seq = seqs[event.user_id] = seqs[event.user_id] + 1
    return StoredEvent(
        event.user_id,
        seq,
        "agent_thinking",
        event.run_id,
        event.thread_id,
        render(event, seq),
        created,
    )


async def database_log(
    client: coredis.Redis[bytes], workload: Workload, measure: Measure, path: Path, url: str
) -> None:
    """(a): numbered here, stored in SQLite, then published, in two stages."""
    storage = await SqliteStorage.open(path)
    try:
        store = storage.events
        backplane = RedisBackplane(store, url=url, prefix=PREFIX, node_id=ORIGIN.strip())
        seqs = await store.last_seqs(workload.users)  # each user's key, as on first use
        send, receive = trio.open_memory_channel[tuple[float, list[StoredEvent]]](1)

        async def write_stage() -> None:
            async with send:
                while not measure.done:
                    formed = time.monotonic()
                    created = time.time()
                    stored = []
                    for event in workload.batch():
                        stored.append(numbered(event, seqs, created))
                    await store.append(stored)
                    await send.send((formed, stored))

        async def publish_stage() -> None:
            async with receive:
                async for formed, stored in receive:
                    await backplane.publish(stored)
                    measure.landed(formed, len(stored))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(publish_stage)
            await write_stage()
        measure.finish()
        measure.cell.stored_events = sum(seqs.values())
    finally:
        await storage.close()
    measure.cell.stored_bytes = sum(
        p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()
    )


Parts = list[tuple[str, list[tuple[Event, str, str]]]]


def script_call(events: list[Event]) -> tuple[Parts, list[list[str]], list[list[str]]]:
    """Per user of the batch, in order: its events with their frames cut at the
    seq, and the script's keys and args."""
    by_user: dict[str, list[tuple[Event, str, str]]] = {}
    for event in events:
        head, tail = render(event, 0).split('"seq":0', 1)
        by_user.setdefault(event.user_id, []).append((event, head + '"seq":', tail))
    keys, args = [], []
    for user, mine in by_user.items():
        keys.append([f"{PREFIX}{{{user}}}:seq", f"{PREFIX}{{{user}}}:log"])
        user_args = [user, str(len(mine))]
        for event, head, tail in mine:
            meta = orjson.dumps(["agent_thinking", event.run_id, event.thread_id, time.time()])
            user_args += ["," + meta[1:].decode(), head, tail]
        args.append(user_args)
    return list(by_user.items()), keys, args


def frames_from(parts: Parts, firsts: list[Any], created: float) -> list[StoredEvent]:
    """What the node hands its own connections once the script answered: each
    frame joined around its seq, as the script joined it."""
    stored = []
    for (user, mine), first in zip(parts, firsts, strict=True):
        seq = int(first)
        for event, head, tail in mine:
            frame = f"{head}{seq}{tail}"
            stored.append(
                StoredEvent(
                    user, seq, "agent_thinking", event.run_id, event.thread_id, frame, created
                )
            )
            seq += 1
    return stored


async def redis_log(
    client: coredis.Redis[bytes], workload: Workload, measure: Measure, per_user_scripts: bool
) -> None:
    """(b), or (b') with ``per_user_scripts``: the log in Redis, one round trip a batch."""
    script = client.register_script(APPEND)
    sha = await client.script_load(APPEND)
    before = await used_memory(client)
    head = [ORIGIN, str(MAXLEN), f"{PREFIX}u:"]
    call: Callable[[list[list[str]], list[list[str]]], Awaitable[list[Any]]]

    async def one_script(keys: list[list[str]], args: list[list[str]]) -> list[Any]:
        flat_keys = [k for pair in keys for k in pair]
        flat_args = head + [a for user_args in args for a in user_args]
        return list(await script(keys=flat_keys, args=flat_args))

    async def script_per_user(keys: list[list[str]], args: list[list[str]]) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            # evalsha, not the Script object: in a pipeline coredis would ask
            # SCRIPT EXISTS first, a round trip more per batch
            replies = [
                pipe.evalsha(sha, keys=user_keys, args=head + user_args)
                for user_keys, user_args in zip(keys, args, strict=True)
            ]
        return [(await reply)[0] for reply in replies]

    call = script_per_user if per_user_scripts else one_script
    stored_events = 0
    while not measure.done:
        formed = time.monotonic()
        parts, keys, args = script_call(workload.batch())
        firsts = await call(keys, args)
        stored = frames_from(parts, firsts, time.time())
        stored_events += len(stored)
        measure.landed(formed, len(stored))
    measure.finish()
    measure.cell.stored_events = stored_events
    measure.cell.stored_bytes = await used_memory(client) - before


async def stream_footprint(client: coredis.Redis[bytes], frame: str) -> tuple[int, float]:
    """Entries kept, and bytes of memory per entry, of one user's stream at its bound."""
    key = f"{PREFIX}{{user-full}}:log"
    kept = int(await client.eval(FILL, keys=[key], args=[frame, str(MAXLEN * 3 // 2), MAXLEN]))
    usage = await client.memory_usage(key, samples=0) or 0
    await client.delete([key])
    return kept, usage / kept


class CountingSink:
    """The receiving node's deliverer, minus the sockets: counts, and wakes the
    waiter once ``target`` events have arrived."""

    def __init__(self) -> None:
        self.events = 0
        self.target = 0
        self.reached = trio.Event()

    def deliver(self, events: Sequence[StoredEvent]) -> None:
        self.events += len(events)
        if self.events >= self.target:
            self.reached.set()

    def notice(self, notice: Notice) -> None:
        pass


class NoStore:
    """The receiver reads the store on subscribing (the last seq: none yet) and
    for gaps (none here: one publisher, in order)."""

    async def last_seqs(self, user_ids: Sequence[str]) -> dict[str, int]:
        return dict.fromkeys(user_ids, 0)

    async def append(self, events: Sequence[StoredEvent]) -> None:
        pass

    async def events_after(self, user_id: str, seq: int, *, limit: int = 1000) -> list[StoredEvent]:
        return []

    async def replay_window(self, user_id: str) -> ReplayWindow:
        return ReplayWindow(0, 0)


async def receiver(port: int, users: int) -> None:
    """``--receive``: another node, on its own: the real ``RedisBackplane.run``
    subscribed to every user's channel. Reads a cumulative event count per line
    on stdin, answers ``done`` once that many have been handed on."""
    sink = CountingSink()
    client: coredis.Redis[bytes] = coredis.Redis(host="127.0.0.1", port=port)
    async with client, trio.open_nursery() as nursery:
        backplane = RedisBackplane(NoStore(), url=url_of(port), prefix=PREFIX, node_id="receiver")
        await nursery.start(backplane.run, sink)
        for i in range(users):
            await backplane.subscribe(f"user-{i}")
        print("ready", flush=True)
        while line := await trio.to_thread.run_sync(sys.stdin.readline):
            sink.target = int(line)
            if sink.events < sink.target:
                sink.reached = trio.Event()
                await sink.reached.wait()
            print("done", flush=True)
        nursery.cancel_scope.cancel()


@attrs.frozen
class Received:
    per_message: int
    events: int
    messages: int
    cpu_s: float
    other_pct: float


def start_receiver(port: int, users: int) -> subprocess.Popen[str]:
    command = ["-m", "benchmarks.event_log_probe", "--receive", str(port), "--users", str(users)]
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def receiving_side(
    client: coredis.Redis[bytes],
    server: RedisProcess,
    subscriber: Subscriber,
    users: int,
    events: int,
) -> list[Received]:
    """What a node spends on each event it receives from another: a receiver
    process (``--receive``) takes ``events`` events published by the real
    ``RedisBackplane.publish``, ``per_message`` events per user per message;
    its CPU (``/proc``) from the first message to the last handed on."""
    # a burst may run ahead of the receiver: no output-buffer limit for it
    await client.config_set({"client-output-buffer-limit": "pubsub 0 0 0"})
    proc = start_receiver(server.port, users)
    watched = [os.getpid(), server.proc.pid, subscriber.proc.pid, proc.pid]
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    results = []
    try:
        if (await trio.to_thread.run_sync(stdout.readline)).strip() != "ready":
            raise RuntimeError("the receiver did not start")
        backplane = RedisBackplane(
            NoStore(), url=url_of(server.port), prefix=PREFIX, node_id=ORIGIN.strip()
        )
        seqs = dict.fromkeys(Workload(users, 1, 1).users, 0)
        total = 0
        for per_message in (1, 4, 16):
            count = events // per_message * per_message
            total += count
            shape = Workload(users, 256, per_message)
            before = cpu_with_children(proc.pid)
            snapshot = procstat.Snapshot.take(watched)
            stdin.write(f"{total}\n")
            stdin.flush()
            sent = 0
            while sent < count:
                batch = []
                for event in shape.batch()[: count - sent]:
                    batch.append(numbered(event, seqs, 1.0))
                sent += len(batch)
                await backplane.publish(batch)
            if (await trio.to_thread.run_sync(stdout.readline)).strip() != "done":
                raise RuntimeError("the receiver stopped")
            cpu = cpu_with_children(proc.pid) - before
            other = procstat.other_percent(snapshot, procstat.Snapshot.take(watched))
            results.append(Received(per_message, count, count // per_message, cpu, other))
            print(
                f"[probe] receiving, {per_message} events per message:"
                f" {cpu * 1e6 / count:.1f} us of CPU per event, other CPU {other:.0f}%",
                file=sys.stderr,
                flush=True,
            )
    finally:
        stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return results


@attrs.frozen
class Results:
    cells: list[Cell]
    kept: int  # entries in a stream at its bound
    per_entry: float  # bytes of Redis memory per entry there
    received: list[Received]


async def measured_cell(
    args: argparse.Namespace,
    workdir: Path,
    client: coredis.Redis[bytes],
    name: str,
    server: RedisProcess,
    subscriber: Subscriber,
    size: int,
    design: str,
    index: int,
) -> Cell:
    """One cell; measured again (at most RETRIES more times, the least contended
    kept) while other processes took more than CONTENDED_PCT of a core."""
    best: Cell | None = None
    for attempt in range(1 + RETRIES):
        await client.flushall()
        cell = Cell(name, size, design)
        workload = Workload(args.users, size, args.per_user)
        measure = Measure(cell, server.proc.pid, subscriber.proc.pid, args.warmup, args.seconds)
        if design == "a":
            path = workdir / f"events-{index}-{attempt}.db"
            await database_log(client, workload, measure, path, url_of(server.port))
        else:
            await redis_log(client, workload, measure, design == "b'")
        print(f"[probe] {line(cell)}", file=sys.stderr, flush=True)
        if best is None or cell.other_pct < best.other_pct:
            best = cell
        if best.other_pct <= CONTENDED_PCT:
            break
        await trio.sleep(2.0)
    assert best is not None
    return best


async def run_cells(args: argparse.Namespace, workdir: Path) -> Results:
    configs = {
        "no AOF": ["--appendonly", "no"],
        "AOF everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    }
    cells: list[Cell] = []
    footprint = (0, 0.0)
    received: list[Received] = []
    for name, persistence in configs.items():
        directory = workdir / name.replace(" ", "-")
        directory.mkdir(parents=True, exist_ok=True)
        server = RedisProcess(directory, persistence=persistence)
        channels = [f"{PREFIX}u:user-{i}" for i in range(args.users)]
        subscriber = Subscriber(server.port, channels)
        try:
            client: coredis.Redis[bytes] = coredis.Redis(host="127.0.0.1", port=server.port)
            async with client:
                for size in (1, 32):
                    designs = (
                        ["a", "b", "b'"] if size // min(args.per_user, size) > 1 else ["a", "b"]
                    )
                    for design in designs:
                        cell = await measured_cell(
                            args,
                            workdir,
                            client,
                            name,
                            server,
                            subscriber,
                            size,
                            design,
                            len(cells),
                        )
                        cells.append(cell)
                if name == "no AOF":
                    await client.flushall()
                    frame = render(Workload(1, 1, 1).batch()[0], 5000)
                    footprint = await stream_footprint(client, frame)
                    received = await receiving_side(
                        client, server, subscriber, args.users, args.received_events
                    )
        finally:
            subscriber.stop()
            server.stop()
    return Results(cells, *footprint, received)


def line(cell: Cell) -> str:
    return (
        f"{cell.redis}, batch {cell.batch}, {cell.design}: {cell.events_per_s:,.0f} events/s,"
        f" p50 {cell.latency_ms(0.5):.2f} ms, p99 {cell.latency_ms(0.99):.2f} ms,"
        f" {cell.cpu_ms_per_1k():.1f} CPU ms / 1,000 events, other CPU {cell.other_pct:.0f}%"
    )


DESIGNS = {
    "a": "(a) SQLite append + PUBLISH per user, pipelined",
    "b": "(b) one Lua script per batch (INCRBY, XADD, PUBLISH)",
    "b'": "(b') one Lua script per user, pipelined",
}


def table(cells: list[Cell], per_user: int) -> str:
    out = [
        "| redis-server | batch | design | events/s | p50 ms | p99 ms"
        " | CPU ms / 1,000 events (probe + redis) | probe | redis-server"
        " | stored bytes / event | events/s vs (a) | CPU vs (a) | other CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in cells:
        base = next(
            c for c in cells if (c.redis, c.batch, c.design) == (cell.redis, cell.batch, "a")
        )
        users = cell.batch // min(per_user, cell.batch)
        shape = f"{cell.batch} ({users} user{'s' if users > 1 else ''})"
        where = "SQLite file" if cell.design == "a" else "Redis used_memory"
        per_event = cell.stored_bytes / cell.stored_events if cell.stored_events else 0
        versus = cell.design != "a"
        out.append(
            f"| {cell.redis} | {shape} | {DESIGNS[cell.design]} | {cell.events_per_s:,.0f}"
            f" | {cell.latency_ms(0.5):.2f} | {cell.latency_ms(0.99):.2f}"
            f" | {cell.cpu_ms_per_1k():.1f} | {cell.cpu_ms_per_1k('probe'):.1f}"
            f" | {cell.cpu_ms_per_1k('redis'):.1f} | {per_event:,.0f} ({where})"
            f" | {f'{cell.events_per_s / base.events_per_s:.2f}x' if versus else ''}"
            f" | {f'{cell.cpu_ms_per_1k() / base.cpu_ms_per_1k():.2f}x' if versus else ''}"
            f" | {cell.other_pct:.0f}% |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_log_probe")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=4, help="events per user in a batch of 32")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured, per cell")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument(
        "--received-events", type=int, default=48_000, help="per shape, on the receiving side"
    )
    parser.add_argument("--receive", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        trio.run(receiver, args.receive, args.users)
        return
    frame = render(Workload(1, 1, 1).batch()[0], 12345)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as workdir:
        results = trio.run(run_cells, args, Path(workdir))
    cells = results.cells
    print(
        f"{args.users:,} users, frames of {len(frame)} bytes, {args.seconds:g} s measured per"
        f" cell after {args.warmup:g} s; the run took {time.monotonic() - started:.0f} s"
    )
    print(table(cells, args.per_user))
    print(
        f"one user's stream at its bound (MAXLEN ~ {MAXLEN:,}): {results.kept:,} entries kept,"
        f" {results.per_entry:,.0f} bytes of Redis memory each (MEMORY USAGE)"
    )
    print(
        "receiving node (the same in every design: one message per user per batch): "
        + "; ".join(
            f"{r.per_message} event{'s' if r.per_message > 1 else ''} per message"
            f" {r.cpu_s * 1e6 / r.events:.1f} us of CPU per event"
            f" ({r.cpu_s * 1e6 / r.messages:.0f} per message; other CPU {r.other_pct:.0f}%)"
            for r in results.received
        )
    )
    mean = statistics.fmean(c.other_pct for c in cells)
    print(f"other processes: {mean:.0f}% of a core on average over the cells")


if __name__ == "__main__":
    main()
