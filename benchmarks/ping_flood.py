"""The ping-flood cell: what four connections flooding WebSocket ping frames do
to another user's round trips. ``python -m benchmarks.ping_flood [--quick]
[--before DIR]``.

Three kinds of process, each its own, on loopback:

- the server: this module's ``serve`` role, ``Server(config)`` with the
  product's default limits (message rate, burst, abuse limit, handshake rate
  per address, connections per user: unlike :mod:`benchmarks.netra_server`,
  nothing is raised, since the limits are what is measured), a fresh SQLite
  file, logs at ``info`` to a file. ``--before DIR`` also runs the server of
  another checkout (a worktree of an earlier commit): its ``netra_trio`` is
  imported from ``DIR`` (``PYTHONPATH=DIR``, and ``DIR`` first on
  ``sys.path``), this module's role still starts it;
- the victims (``victim`` role): ``--victims`` users (``victim-u{i}``), one
  connection each, from source address 127.0.0.2, each sending a WebSocket
  ping frame (8-byte payload, matched by its pong) and a protocol ``ping``
  message (matched by its ``pong``) every ``--interval-ms``, interleaved and
  spread over the users, so that each user stays under the message rate
  (the two together: 16 a second at the default 125 ms, the rate is 20).
  Round trip = the pong's arrival - the send, both on the victim's clock;
  a ping whose pong does not come is *lost* and counts as an infinite
  round trip in the percentiles;
- the flooders (``flood`` role): four users (``flood-u{i}``), one connection
  at a time each, all in one process (asyncio on uvloop), each from its own
  source address 127.0.1.{i+1} (or all from 127.0.0.1: ``--flood-address
  same``), writing empty masked ping frames (6 bytes) as fast as the socket
  takes them (1,024 to a write, flow-controlled on the transport's buffer) and
  reading what comes back (pongs, error frames, the close frame).
  Variants: ``once``: the flooder ignores the close frame and keeps writing
  until the server ends the TCP connection, and does not reconnect;
  ``answer``: on the close frame it stops writing and
  answers it, as a WebSocket library does, and does not reconnect;
  ``reconnect``: on the close frame it drops the socket (RST) and at once
  opens a new connection with its (valid) token, and a refused handshake is
  tried again at once (``--retry-refused after`` waits the Retry-After it
  was told instead).

Per cell (code x variant) one server is started; the victims probe from start
to end; the runner alternates unloaded and flooded phases (``--rounds`` of
each, ``--phase-s`` seconds, a gap between phases left out of both), and
samples the CPU of the three processes at each phase's ends. A flooded phase
starts when the flooders are told to start (their handshakes are inside it)
and ends when they are told to stop, at which they reset their sockets. The
victims' samples are put in the phase their ping was sent in; the ratio is the
pooled flooded p99 over the pooled unloaded p99 of the same cell (the target:
<= 2x). *while flooding* is the flooded phases' samples sent while at least
one flooder had a connection open (the ``once`` flood ends early).

``--profile`` runs py-spy on the server over the last flooded phase of each
cell; ``python -m benchmarks.ping_flood parse-cost`` prints what wsproto spends
on one of the server's reads of a ping flood (``RECEIVE_BYTES`` of pings),
parsed in one step.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import queue
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import procstat
from benchmarks.harness import PY, ROOT, ServerProcess, fmt, log
from benchmarks.loadclient import mask_frame, raise_fd_limit, upgrade_request

FLOODERS = 4
VICTIMS = 10
INTERVAL_MS = 125.0
PINGS_PER_WRITE = 1024
WRITE_HIGH_WATER = 64 * 1024
VICTIM_ADDRESS = "127.0.0.2"
VARIANTS = ("once", "answer", "reconnect")
TARGET_RATIO = 2.0
KINDS = ("control", "protocol")
KIND_LABELS = {"control": "ping frame -> pong frame", "protocol": "`ping` -> `pong` message"}
PROFILE_RATE = 250

# -- the server ---------------------------------------------------------------------------


def serve(argv: list[str]) -> None:
    """The server of one checkout, with the product's default limits."""
    parser = argparse.ArgumentParser(prog="ping_flood serve")
    parser.add_argument("--code", required=True, help="the checkout whose netra_trio to run")
    parser.add_argument("--database", required=True)
    args = parser.parse_args(argv)
    code = str(Path(args.code).resolve())
    sys.path.insert(0, code)
    import attrs
    import trio

    import netra_trio
    from netra_trio.config import Config
    from netra_trio.logs import configure_logging
    from netra_trio.server.app import Server
    from netra_trio.server.runtime import tune_gc

    where = Path(netra_trio.__file__).resolve()
    if not where.is_relative_to(code):
        raise SystemExit(f"netra_trio came from {where}, not from {code}")
    raise_fd_limit()
    fields = attrs.fields_dict(Config)
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "jwt_secret": os.environ["NETRA_JWT_SECRET"],
        "database": args.database,
        "log_level": "info",
        "shutdown_grace_s": 1.0,
    }
    if "session_key" in fields:
        values["session_key"] = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    config = Config(**{k: v for k, v in values.items() if k in fields})  # type: ignore[arg-type]
    configure_logging(config.log_format, config.log_level)
    shown = (
        "message_rate_per_s",
        "message_burst",
        "abuse_limit",
        "handshake_rate_per_s",
        "handshake_rate_per_ip_s",
        "handshake_burst",
        "max_handshakes_per_address",
        "max_connections_per_user",
        "close_timeout_s",
    )
    limits = {name: getattr(config, name) for name in shown if name in fields}
    print(f"limits {json.dumps({'netra_trio': str(where.parent), **limits})}", flush=True)

    async def run() -> None:
        server = Server(config)
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: server.run(handle_signals=True, task_status=task_status)
            )
            tune_gc()
            print(f"listening {server.port}", flush=True)

    trio.run(run)


class FloodServer(ServerProcess):
    """The ``serve`` role in its own process, with ``code``'s netra_trio."""

    def __init__(self, code: Path, workdir: Path, secret: str) -> None:
        self.kind = "netra"
        self.code = code
        self.limits: dict[str, Any] = {}
        stamp = f"flood-{time.monotonic_ns()}"
        self.database = workdir / f"{stamp}.db"
        env = dict(os.environ, NETRA_JWT_SECRET=secret, PYTHONUNBUFFERED="1", PYTHONPATH=str(code))
        argv = [PY, "-m", "benchmarks.ping_flood", "serve", "--code", str(code)]
        argv += ["--database", str(self.database)]
        self.log_path = workdir / f"{stamp}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self.port = self._wait_listening(timeout_s=60.0)

    def _wait_listening(self, timeout_s: float) -> int:
        assert self.proc.stdout is not None
        timer = threading.Timer(timeout_s, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                if line.startswith("limits "):
                    self.limits = json.loads(line[len("limits ") :])
                elif line.startswith("listening "):
                    return int(line.split()[1])
        finally:
            timer.cancel()
        raise RuntimeError(f"server did not start; see {self.log_path}")


# -- frames shared by the victims and the flooders -----------------------------------------


def parse_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The whole server frames (unmasked) at the start of ``data``, and the rest."""
    frames: list[tuple[int, bytes]] = []
    pos, n = 0, len(data)
    while n - pos >= 2:
        b0, length = data[pos], data[pos + 1] & 0x7F
        head = pos + 2
        if length == 126:
            if n - pos < 4:
                break
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            head = pos + 4
        elif length == 127:
            if n - pos < 10:
                break
            length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            head = pos + 10
        end = head + length
        if end > n:
            break
        frames.append((b0 & 0x0F, data[head:end]))
        pos = end
    return frames, data[pos:]


def status_of(head: bytes) -> tuple[int, float | None]:
    """The status of an HTTP response head, and its Retry-After in seconds."""
    lines = head.decode("latin-1", "replace").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        status = 0
    retry_after = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "retry-after":
            with contextlib.suppress(ValueError):
                retry_after = float(value.strip())
    return status, retry_after


def commands() -> asyncio.Queue[str]:
    """Lines from stdin, one command each, as the runner writes them."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())
        loop.call_soon_threadsafe(lines.put_nowait, "quit")

    threading.Thread(target=read, daemon=True).start()
    return lines


def emit(tag: str, payload: Any = None) -> None:
    text = tag if payload is None else f"{tag} {json.dumps(payload)}"
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run_role(main: Any, spec: dict[str, Any]) -> None:
    raise_fd_limit()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(spec))
    else:
        uvloop.run(main(spec))


# -- what one read of a flood costs the server -----------------------------------------


def parse_cost(argv: list[str]) -> None:
    """What wsproto (as the server drives it) spends on one read of a ping
    flood: ``RECEIVE_BYTES`` of empty pings fed to a server-side connection and
    every event taken, with and without building each ping's pong."""
    sys.path.insert(0, str(Path(argv[0]).resolve()) if argv else str(ROOT))
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import Ping

    from netra_trio.server.transport import RECEIVE_BYTES

    data = (CHUNK * (RECEIVE_BYTES // len(CHUNK) + 1))[: RECEIVE_BYTES // 6 * 6]
    reads = 100
    for answer in (False, True):
        conn = Connection(ConnectionType.SERVER)
        frames = 0
        t0 = time.perf_counter()
        for _ in range(reads):
            conn.receive_data(data)
            events = list(conn.events())
            frames += len(events)
            if answer:
                for event in events:
                    if isinstance(event, Ping):
                        conn.send(event.response())
        elapsed = time.perf_counter() - t0
        print(
            f"{RECEIVE_BYTES:,} bytes read = {frames // reads:,} pings:"
            f" {elapsed / reads * 1000:.1f} ms per read, {elapsed / frames * 1e6:.2f} us per ping"
            + (" (each pong built too)" if answer else " (parsed only)")
        )


# -- the victims ---------------------------------------------------------------------------


class Probe(asyncio.Protocol):
    """One victim connection: ping frames and ``ping`` messages, each matched
    with its answer by its number."""

    def __init__(self, request: bytes, samples: list[tuple[float, int, float]]) -> None:
        self.request = request
        self.samples = samples
        self.buf = b""
        self.open = False
        self.transport: Any = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent: tuple[dict[int, float], dict[int, float]] = ({}, {})
        self.errors: Counter[str] = Counter()
        self.close_code: int | None = None
        self.n = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def send_ping(self, kind: int) -> None:
        if self.close_code is not None or self.transport is None:
            return
        self.n += 1
        if kind == 0:
            frame = mask_frame(self.n.to_bytes(8, "big"), 0x9)
        else:
            text = json.dumps({"type": "ping", "payload": {"n": self.n}}, separators=(",", ":"))
            frame = mask_frame(text.encode())
        self.sent[kind][self.n] = time.monotonic()
        self.transport.write(frame)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        data = self.buf + data
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            status, _ = status_of(data[:end])
            if status != 101:
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(f"handshake refused: {status}"))
                self.transport.close()
                return
            self.open = True
            data = data[end + 4 :]
        frames, self.buf = parse_frames(data)
        for opcode, payload in frames:
            if opcode == 0xA:
                sent = self.sent[0].pop(int.from_bytes(payload, "big"), None)
                if sent is not None:
                    self.samples.append((sent, 0, now - sent))
            elif opcode == 0x1:
                message = json.loads(payload)
                kind = message.get("type")
                if kind == "pong":
                    sent = self.sent[1].pop(message.get("payload", {}).get("n"), None)
                    if sent is not None:
                        self.samples.append((sent, 1, now - sent))
                elif kind == "error":
                    self.errors[str(message.get("payload", {}).get("code"))] += 1
                elif not self.ready.done():  # connection_established
                    self.ready.set_result(None)
            elif opcode == 0x9:  # the server's heartbeat
                self.transport.write(mask_frame(payload, 0xA))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))


async def victims(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    lines = commands()
    samples: list[tuple[float, int, float]] = []
    probes: list[Probe] = []
    for token in spec["tokens"]:
        request = upgrade_request(spec["host"], spec["port"], "/ws", token)
        _, probe = await loop.create_connection(
            lambda request=request: Probe(request, samples),  # type: ignore[misc]
            spec["host"],
            spec["port"],
            local_addr=(spec["address"], 0),
        )
        await asyncio.wait_for(probe.ready, 10.0)
        probes.append(probe)
    interval = spec["interval_ms"] / 1000
    running = True

    async def probe_loop(probe: Probe, offset: float) -> None:
        due = loop.time() + offset
        while running:
            await asyncio.sleep(max(0.0, due - loop.time()))
            probe.send_ping(0)
            await asyncio.sleep(max(0.0, due + interval / 2 - loop.time()))
            probe.send_ping(1)
            due += interval

    tasks = [
        asyncio.create_task(probe_loop(p, interval * i / len(probes))) for i, p in enumerate(probes)
    ]
    emit("@ready")
    while (await lines.get()) not in ("stop", "quit"):
        pass
    running = False
    stopped = time.monotonic()
    for task in tasks:
        task.cancel()
    await asyncio.sleep(1.0)  # the answers still on their way
    lost = [
        (sent, kind, math.inf)
        for probe in probes
        for kind in (0, 1)
        for sent in probe.sent[kind].values()
        if sent < stopped - 0.5
    ]
    errors: Counter[str] = Counter()
    for probe in probes:
        errors.update(probe.errors)
    emit(
        "@result",
        {
            "samples": [list(s) for s in samples] + [[s, k, None] for s, k, _ in lost],
            "errors": dict(errors),
            "closed": [p.close_code for p in probes if p.close_code is not None],
        },
    )
    for probe in probes:
        if probe.transport is not None:
            probe.transport.write(mask_frame((1000).to_bytes(2, "big"), 0x8))
            probe.transport.close()


# -- the flooders --------------------------------------------------------------------------


PING_FRAME_BYTES = 6  # an empty masked ping: 2 header bytes and the mask
CHUNK = b"".join(mask_frame(b"", 0x9) for _ in range(PINGS_PER_WRITE))


class FloodConn(asyncio.Protocol):
    """One flooding connection: pings as fast as the transport takes them."""

    def __init__(self, request: bytes, behaviour: str, flooding: list[bool]) -> None:
        self.request = request
        self.behaviour = behaviour  # on the close frame: see the module's variants
        self.answered = False
        self.flooding = flooding  # shared: the phase is on
        self.transport: Any = None
        self.buf = b""
        self.open = False
        self.paused = False
        self.status = 0
        self.retry_after: float | None = None
        self.written = 0
        self.unsent = 0
        self.pongs = 0
        self.rate_limited = 0
        self.errors: Counter[str] = Counter()
        self.close_code: int | None = None
        self.connected_at = time.monotonic()
        self.opened_at = 0.0
        self.close_frame_at = 0.0
        self.ended_at = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        transport.write(self.request)

    def pump(self) -> None:
        transport = self.transport
        while not self.paused and self.flooding[0] and not transport.is_closing():
            transport.write(CHUNK)
            self.written += len(CHUNK)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        if self.answered:
            return
        self.paused = False
        if self.open:
            self.pump()

    def data_received(self, data: bytes) -> None:
        data = self.buf + data
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            self.status, self.retry_after = status_of(data[:end])
            if self.status != 101:
                self.buf = b""
                self.transport.close()
                return
            self.open = True
            self.opened_at = time.monotonic()
            data = data[end + 4 :]
            self.pump()
        frames, self.buf = parse_frames(data)
        for opcode, payload in frames:
            if opcode == 0xA:
                self.pongs += 1
            elif opcode == 0x1:
                if b"RATE_LIMITED" in payload:
                    self.rate_limited += 1
                elif b'"type":"error"' in payload:
                    code = json.loads(payload).get("payload", {}).get("code")
                    self.errors[str(code)] += 1
            elif opcode == 0x8 and self.close_code is None:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                self.close_frame_at = time.monotonic()
                if self.behaviour == "reconnect":
                    self.abort()
                    return
                if self.behaviour == "answer":
                    self.paused = self.answered = True
                    self.transport.write(mask_frame(payload[:2], 0x8))
                # ``once``: the close frame is ignored, the pings go on

    def eof_received(self) -> bool:
        return False

    def abort(self) -> None:
        """Drop the connection with a reset, discarding what is still buffered."""
        if self.transport is None or self.done.done():
            return
        self.unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None and not self.unsent:
            with contextlib.suppress(Exception):
                self.unsent = self.transport.get_write_buffer_size()
        self.ended_at = time.monotonic()
        if not self.done.done():
            self.done.set_result(None)


class Flooder:
    """One flooding user: its connections, one at a time, over a phase."""

    def __init__(self, index: int, token: str, address: str, spec: dict[str, Any]) -> None:
        self.index = index
        self.token = token
        self.address = address
        self.spec = spec
        self.conns: list[FloodConn] = []
        self.connect_errors: Counter[str] = Counter()

    async def run(self, flooding: list[bool]) -> None:
        loop = asyncio.get_running_loop()
        spec = self.spec
        reconnect = spec["variant"] == "reconnect"
        while flooding[0]:
            request = upgrade_request(spec["host"], spec["port"], "/ws", self.token)
            conn = FloodConn(request, spec["variant"], flooding)
            try:
                await loop.create_connection(
                    lambda conn=conn: conn,  # type: ignore[misc]
                    spec["host"],
                    spec["port"],
                    local_addr=(self.address, 0),
                )
            except OSError as exc:
                self.connect_errors[type(exc).__name__] += 1
                await asyncio.sleep(0.001)
                continue
            self.conns.append(conn)
            await conn.done
            if conn.status == 101 and not reconnect:
                return  # flooded until the server ended it
            if conn.status != 101 and spec["retry_refused"] == "after" and conn.retry_after:
                await asyncio.sleep(conn.retry_after)

    def stop(self) -> None:
        for conn in self.conns:
            conn.abort()

    def report(self, t0: float, t1: float) -> dict[str, Any]:
        accepted = [c for c in self.conns if c.status == 101]
        refused = Counter(str(c.status) for c in self.conns if c.status not in (0, 101))
        closes = Counter(str(c.close_code) for c in accepted if c.close_code is not None)
        to_close = sorted(c.close_frame_at - c.opened_at for c in accepted if c.close_frame_at)
        offered = sum(max(0, c.written - c.unsent) for c in accepted) // PING_FRAME_BYTES
        errors: Counter[str] = Counter()
        for conn in accepted:
            errors.update(conn.errors)
        return {
            "index": self.index,
            "address": self.address,
            "attempts": len(self.conns) + sum(self.connect_errors.values()),
            "accepted": len(accepted),
            "refused": dict(refused),
            # no answer to the upgrade request: the phase ended first, or the server hung up
            "unanswered": sum(1 for c in self.conns if c.status == 0),
            "connect_errors": dict(self.connect_errors),
            "pings_offered": offered,
            "pongs": sum(c.pongs for c in accepted),
            "rate_limited": sum(c.rate_limited for c in accepted),
            "other_errors": dict(errors),
            "closes": dict(closes),
            "close_frame_after_s": to_close,
            "open_intervals": [[c.opened_at, c.ended_at or t1] for c in accepted],
            "first_close_frame_s": min(
                (c.close_frame_at - t0 for c in accepted if c.close_frame_at), default=None
            ),
            "last_end_s": max(((c.ended_at or t1) - t0 for c in accepted), default=None),
        }


async def flooders(spec: dict[str, Any]) -> None:
    lines = commands()
    emit("@ready")
    while True:
        command = await lines.get()
        if command == "quit":
            return
        if command != "start":
            continue
        flooding = [True]
        team = [
            Flooder(i, token, spec["addresses"][i], spec) for i, token in enumerate(spec["tokens"])
        ]
        t0 = time.monotonic()
        tasks = [asyncio.create_task(f.run(flooding)) for f in team]
        while (await lines.get()) not in ("stop", "quit"):
            pass
        flooding[0] = False
        t1 = time.monotonic()
        for flooder in team:
            flooder.stop()
        await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        emit("@phase", {"t0": t0, "t1": t1, "flooders": [f.report(t0, t1) for f in team]})


# -- the runner ----------------------------------------------------------------------------


class Child:
    """A role in its own process, driven by lines on stdin and read by its
    ``@`` lines on stdout."""

    def __init__(self, role: str, spec: dict[str, Any], workdir: Path) -> None:
        path = workdir / f"{role}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(spec))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [PY, "-m", "benchmarks.ping_flood", role, str(path)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, tag: str, timeout_s: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"no {tag} from {self.proc.args} in {timeout_s} s") from None
            if not line:
                raise RuntimeError(f"{self.proc.args} ended before {tag}")
            if line.startswith(tag):
                rest = line[len(tag) :].strip()
                return json.loads(rest) if rest else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("quit")
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def percentiles(values: list[float]) -> dict[str, Any]:
    """p50/p99/max in ms; a lost answer is an infinite round trip."""
    if not values:
        return {"samples": 0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        value = ordered[min(n - 1, int(q * n))]
        return value * 1000 if math.isfinite(value) else math.inf

    return {
        "samples": n,
        "lost": sum(1 for v in ordered if not math.isfinite(v)),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    }


def inside(t: float, intervals: list[list[float]]) -> bool:
    return any(start <= t <= end for start, end in intervals)


class Cell:
    """One server (one checkout), the victims and the flooders of one variant."""

    def __init__(self, args: argparse.Namespace, code: Path, label: str, variant: str) -> None:
        self.args = args
        self.code = code
        self.label = label
        self.variant = variant

    def run(self, workdir: Path, secret: str, tokens: dict[str, list[str]]) -> dict[str, Any]:
        args = self.args
        server = FloodServer(self.code, workdir, secret)
        victim: Child | None = None
        flood: Child | None = None
        phases: list[dict[str, Any]] = []
        try:
            base = {"host": "127.0.0.1", "port": server.port}
            victim = Child(
                "victim",
                {
                    **base,
                    "tokens": tokens["victims"],
                    "address": VICTIM_ADDRESS,
                    "interval_ms": args.interval_ms,
                },
                workdir,
            )
            victim.expect("@ready")
            addresses = [
                f"127.0.1.{i + 1}" if args.flood_address == "distinct" else "127.0.0.1"
                for i in range(FLOODERS)
            ]
            flood = Child(
                "flood",
                {
                    **base,
                    "tokens": tokens["flooders"],
                    "addresses": addresses,
                    "variant": self.variant,
                    "retry_refused": args.retry_refused,
                },
                workdir,
            )
            flood.expect("@ready")
            pids = {"server": server.pid, "victims": victim.pid, "flooders": flood.pid}
            time.sleep(args.gap_s)
            for round_no in range(args.rounds):
                for flooded in (False, True):
                    start = procstat.Snapshot.take(list(pids.values()))
                    t0 = time.monotonic()
                    if flooded:
                        flood.send("start")
                        if args.profile and round_no == args.rounds - 1:
                            self._profile(server, workdir)
                    time.sleep(args.phase_s)
                    t1 = time.monotonic()
                    report = None
                    if flooded:
                        flood.send("stop")
                        report = flood.expect("@phase")
                    end = procstat.Snapshot.take(list(pids.values()))
                    cpu = {
                        name: procstat.cpu_percent(start, end, pid) for name, pid in pids.items()
                    }
                    cpu["other"] = procstat.other_percent(start, end)
                    phases.append(
                        {"round": round_no, "flooded": flooded, "t0": t0, "t1": t1}
                        | {"cpu_pct": cpu, "flood": report}
                    )
                    time.sleep(args.gap_s)
            victim.send("stop")
            result = victim.expect("@result", timeout_s=30.0)
        finally:
            for child in (flood, victim):
                if child is not None:
                    child.stop()
            server.stop()
        return self._summarize(server, phases, result)

    def _profile(self, server: FloodServer, workdir: Path) -> None:
        py_spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        raw = workdir / f"profile-{self.label}-{self.variant}.txt"
        seconds = max(1, int(self.args.phase_s) - 1)
        self.profile_path = raw
        self.spy = subprocess.Popen(
            [
                *(py_spy, "record", "--pid", str(server.pid), "--duration", str(seconds)),
                *("--rate", str(PROFILE_RATE), "--format", "raw", "--nonblocking"),
                *("--output", str(raw)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _summarize(
        self, server: FloodServer, phases: list[dict[str, Any]], result: dict[str, Any]
    ) -> dict[str, Any]:
        samples = result["samples"]
        for phase in phases:
            intervals = [
                interval
                for flooder in (phase["flood"] or {}).get("flooders", [])
                for interval in flooder["open_intervals"]
            ]
            for i, kind in enumerate(KINDS):
                rtts = [
                    math.inf if rtt is None else rtt
                    for sent, k, rtt in samples
                    if k == i and phase["t0"] <= sent < phase["t1"]
                ]
                phase[kind] = percentiles(rtts)
                if phase["flooded"]:
                    phase[f"{kind}_while_flooding"] = percentiles(
                        [
                            math.inf if rtt is None else rtt
                            for sent, k, rtt in samples
                            if k == i
                            and phase["t0"] <= sent < phase["t1"]
                            and inside(sent, intervals)
                        ]
                    )
        pooled: dict[str, Any] = {}
        for flooded, name in ((False, "unloaded"), (True, "flooded")):
            chosen = [p for p in phases if p["flooded"] is flooded]
            windows = [(p["t0"], p["t1"]) for p in chosen]
            entry: dict[str, Any] = {
                "phases": len(chosen),
                "cpu_pct": {
                    key: round(sum(p["cpu_pct"][key] for p in chosen) / max(len(chosen), 1), 1)
                    for key in ("server", "victims", "flooders", "other")
                },
                "cpu_pct_max": {
                    key: max((p["cpu_pct"][key] for p in chosen), default=0.0)
                    for key in ("server", "flooders")
                },
            }
            for i, kind in enumerate(KINDS):
                entry[kind] = percentiles(
                    [
                        math.inf if rtt is None else rtt
                        for sent, k, rtt in samples
                        if k == i and any(t0 <= sent < t1 for t0, t1 in windows)
                    ]
                )
            if flooded:
                intervals = [
                    interval
                    for p in chosen
                    for flooder in p["flood"]["flooders"]
                    for interval in flooder["open_intervals"]
                ]
                for i, kind in enumerate(KINDS):
                    entry[f"{kind}_while_flooding"] = percentiles(
                        [
                            math.inf if rtt is None else rtt
                            for sent, k, rtt in samples
                            if k == i
                            and any(t0 <= sent < t1 for t0, t1 in windows)
                            and inside(sent, intervals)
                        ]
                    )
                entry["flood"] = flood_totals(chosen)
            pooled[name] = entry
        for kind in KINDS:
            loaded = pooled["flooded"][kind].get("p99_ms")
            unloaded = pooled["unloaded"][kind].get("p99_ms")
            pooled[f"{kind}_p99_ratio"] = (
                loaded / unloaded if loaded is not None and unloaded else None
            )
            pooled[f"{kind}_round_ratios"] = [
                round_ratio(phases, r, kind) for r in range(self.args.rounds)
            ]
        summary = {
            "code": self.label,
            "code_dir": str(self.code),
            "commit": git_commit(self.code),
            "variant": self.variant,
            "limits": server.limits,
            "victim_errors": result["errors"],
            "victims_closed": result["closed"],
            **pooled,
            "phases": [
                {k: v for k, v in p.items() if k != "flood"}
                | {"flood": strip_intervals(p["flood"])}
                for p in phases
            ],
        }
        spy = getattr(self, "spy", None)
        if spy is not None:
            try:
                spy.wait(timeout=self.args.phase_s + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
            if self.profile_path.exists():
                summary["profile"] = profile_summary(self.profile_path)
        return summary


FOCUS = (
    ("the reader (`WebSocketTransport.receive`)", "WebSocketTransport.receive (netra_trio/"),
    ("its control frames (`Connection._control_frame`)", "Connection._control_frame (netra_trio/"),
    ("the closing handshake (`WebSocketTransport.close`)", "WebSocketTransport.close (netra_trio/"),
    ("wsproto's frame parser (`FrameProtocol.received_frames`)", "received_frames (wsproto/"),
    ("handshakes (`FrontDoor.arrive`)", "FrontDoor.arrive (netra_trio/"),
    ("logging", "(logging/"),
)


def profile_summary(path: Path) -> dict[str, Any]:
    """py-spy's raw output summed as in ``benchmarks.run``, plus the inclusive
    share of the parts that a flood goes through (``FOCUS``)."""
    from benchmarks.run import _short, summarize_profile

    summary = summarize_profile(path, top=12)
    total, hits = 0, Counter[str]()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = "|".join(_short(frame) for frame in stack.split(";"))
        for label, needle in FOCUS:
            if needle in frames:
                hits[label] += count
    summary["focus"] = [
        (label, round(100 * hits[label] / total, 1) if total else 0.0) for label, _ in FOCUS
    ]
    return summary


def round_ratio(phases: list[dict[str, Any]], round_no: int, kind: str) -> float | None:
    pair = {p["flooded"]: p for p in phases if p["round"] == round_no}
    if len(pair) < 2:
        return None
    loaded, unloaded = pair[True][kind].get("p99_ms"), pair[False][kind].get("p99_ms")
    return loaded / unloaded if loaded is not None and unloaded else None


def strip_intervals(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        **report,
        "flooders": [
            {k: v for k, v in f.items() if k not in ("open_intervals", "close_frame_after_s")}
            for f in report["flooders"]
        ],
    }


def flood_totals(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """What the flooders offered and got over the flooded phases, in all."""
    seconds = sum(p["flood"]["t1"] - p["flood"]["t0"] for p in phases)
    total: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    to_close: list[float] = []
    first_close: list[float] = []
    last_end: list[float] = []
    open_s = 0.0
    for phase in phases:
        for flooder in phase["flood"]["flooders"]:
            for key in (
                "attempts",
                "accepted",
                "unanswered",
                "pings_offered",
                "pongs",
                "rate_limited",
            ):
                total[key] += flooder[key]
            refused.update(flooder["refused"])
            closes.update(flooder["closes"])
            errors.update(flooder["other_errors"])
            errors.update({f"connect {k}": v for k, v in flooder["connect_errors"].items()})
            to_close += flooder["close_frame_after_s"]
            if flooder["first_close_frame_s"] is not None:
                first_close.append(flooder["first_close_frame_s"])
            if flooder["last_end_s"] is not None:
                last_end.append(flooder["last_end_s"])
            open_s += sum(end - start for start, end in flooder["open_intervals"])
    to_close.sort()
    return {
        "seconds": round(seconds, 3),
        **dict(total),
        "pings_offered_per_s": total["pings_offered"] / seconds if seconds else 0.0,
        "pongs_per_s": total["pongs"] / seconds if seconds else 0.0,
        "accepted_per_s": total["accepted"] / seconds if seconds else 0.0,
        "refused": dict(refused),
        "refused_per_s": sum(refused.values()) / seconds if seconds else 0.0,
        "closes": dict(closes),
        "other_errors": dict(errors),
        "close_frame_after_s_p50": to_close[len(to_close) // 2] if to_close else None,
        "close_frame_after_s_max": to_close[-1] if to_close else None,
        "first_close_frame_s": min(first_close) if first_close else None,
        "last_end_s_max": max(last_end) if last_end else None,
        "connected_share": open_s / (seconds * FLOODERS) if seconds else 0.0,
    }


def git_commit(code: Path) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=code, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# -- the tables ----------------------------------------------------------------------------


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "lost"
    return f"{value:,.2f}"


def times(value: float | None) -> str:
    if value is None:
        return "-"
    return "lost" if math.isinf(value) else f"{value:.2f}x"


def tables(cells: list[dict[str, Any]]) -> str:
    out: list[str] = []
    add = out.append
    add(
        "| code | flooders | phase | ping frame p50 / p99 / max ms | `ping` message p50 /"
        " p99 / max ms | samples (lost) | server CPU | flooders CPU | victims CPU | other CPU |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        for name in ("unloaded", "flooded", "while flooding"):
            entry = cell["flooded" if name != "unloaded" else "unloaded"]
            key = "_while_flooding" if name == "while flooding" else ""
            control, protocol = entry[f"control{key}"], entry[f"protocol{key}"]
            cpu = entry["cpu_pct"] if name != "while flooding" else None
            lost = control.get("lost", 0) + protocol.get("lost", 0)
            cpu_cells = (
                f"{fmt(cpu['server'])}% | {fmt(cpu['flooders'])}% | {fmt(cpu['victims'])}% |"
                f" {fmt(cpu['other'])}%"
                if cpu is not None
                else " |  |  | "
            )
            add(
                f"| {cell['code']} | {cell['variant']} | {name} |"
                f" {ms(control.get('p50_ms'))} / {ms(control.get('p99_ms'))} /"
                f" {ms(control.get('max_ms'))} |"
                f" {ms(protocol.get('p50_ms'))} / {ms(protocol.get('p99_ms'))} /"
                f" {ms(protocol.get('max_ms'))} |"
                f" {fmt(control.get('samples', 0) + protocol.get('samples', 0))} ({lost}) |"
                f" {cpu_cells} |"
            )
    add("")
    add(
        "| code | flooders | flooded / unloaded p99, ping frame (per round) | `ping` message"
        " (per round) | within 2x |"
    )
    add("|---|---|---|---|---|")
    for cell in cells:
        rounds = {kind: ", ".join(times(r) for r in cell[f"{kind}_round_ratios"]) for kind in KINDS}
        met = all((cell[f"{kind}_p99_ratio"] or math.inf) <= TARGET_RATIO for kind in KINDS)
        add(
            f"| {cell['code']} | {cell['variant']} |"
            f" **{times(cell['control_p99_ratio'])}** ({rounds['control']}) |"
            f" **{times(cell['protocol_p99_ratio'])}** ({rounds['protocol']}) |"
            f" {'yes' if met else 'no'} |"
        )
    add("")
    add(
        "| code | flooders | pings offered/s | pongs/s | RATE_LIMITED | connections (per s)"
        " | handshakes refused (per s) | closes | close frame after (p50 / max s) |"
        " first close at s | last flooder gone at s | connected share |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        flood = cell["flooded"]["flood"]
        refused = ", ".join(f"{n} x {s}" for s, n in sorted(flood["refused"].items())) or "0"
        if flood.get("unanswered"):
            refused += f"; {flood['unanswered']} unanswered"
        closes = ", ".join(f"{n} x {c}" for c, n in sorted(flood["closes"].items())) or "none"
        p50, top = flood["close_frame_after_s_p50"], flood["close_frame_after_s_max"]
        add(
            f"| {cell['code']} | {cell['variant']} | {fmt(flood['pings_offered_per_s'])} |"
            f" {fmt(flood['pongs_per_s'])} | {fmt(flood.get('rate_limited', 0))} |"
            f" {fmt(flood.get('accepted', 0))} ({fmt(flood['accepted_per_s'], 1)}) |"
            f" {refused} ({fmt(flood['refused_per_s'], 1)}) | {closes} |"
            f" {fmt(p50, 3)} / {fmt(top, 3)} | {fmt(flood['first_close_frame_s'], 3)} |"
            f" {fmt(flood['last_end_s_max'], 2)} |"
            f" {flood['connected_share'] * 100:.0f}% |"
        )
    return "\n".join(out)


def profile_table(cell: dict[str, Any]) -> str:
    profile = cell.get("profile")
    if not profile:
        return ""
    out = [
        f"py-spy on the server, {cell['code']} / {cell['variant']}, last flooded phase"
        f" ({profile['samples']} samples)",
        "",
        "| by package (innermost frame) | % |",
        "|---|---|",
    ]
    out += [f"| {name} | {share} |" for name, share in profile["areas"]]
    out += ["", "| inclusive, where a sample's stack goes through | % |", "|---|---|"]
    out += [f"| {label} | {share} |" for label, share in profile.get("focus", [])]
    out += ["", "| top self | % | top inclusive | % |", "|---|---|---|---|"]
    for own, incl in zip(profile["self"], profile["inclusive"], strict=False):
        out.append(f"| `{own[0]}` | {own[1]} | `{incl[0]}` | {incl[1]} |")
    return "\n".join(out)


# -- entry points --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ping_flood",
        description="another user's ping round trip while four connections flood ping frames",
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s phases")
    parser.add_argument("--before", type=Path, help="also run the server of this checkout")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--before-variants",
        default="once",
        help="the variants run on --before (its server never closes a flooder: both are one)",
    )
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--phase-s", type=float)
    parser.add_argument("--gap-s", type=float, default=1.5)
    parser.add_argument("--victims", type=int, default=VICTIMS)
    parser.add_argument("--interval-ms", type=float, default=INTERVAL_MS)
    parser.add_argument("--flood-address", choices=("distinct", "same"), default="distinct")
    parser.add_argument("--retry-refused", choices=("now", "after"), default="now")
    parser.add_argument("--profile", action="store_true", help="py-spy in the last flood")
    parser.add_argument("--json", type=Path, help="write every cell's figures here")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    if args.phase_s is None:
        args.phase_s = 4.0 if args.quick else 6.0
    return args


def run(argv: list[str]) -> None:
    args = parse_args(argv)
    from netra_trio.auth import Authenticator

    secret = secrets.token_urlsafe(32)
    auth = Authenticator(secret=secret)
    tokens = {
        "victims": [auth.issue(f"victim-u{i}", 3600) for i in range(args.victims)],
        "flooders": [auth.issue(f"flood-u{i}", 3600) for i in range(FLOODERS)],
    }
    codes = [("HEAD", ROOT)]
    if args.before is not None:
        codes.append(("before", args.before.resolve()))
    started = time.time()
    cells: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="netra-flood-") as tmp:
        workdir = Path(tmp)
        for variant in args.variants.split(","):
            for label, code in codes:
                if label == "before" and variant not in args.before_variants.split(","):
                    continue
                log(f"ping flood: {label} ({code}), flooders {variant}")
                cell = Cell(args, code, label, variant).run(workdir, secret, tokens)
                log(
                    f"  p99 ratio: ping frame {times(cell['control_p99_ratio'])},"
                    f" `ping` message {times(cell['protocol_p99_ratio'])}"
                )
                cells.append(cell)
    elapsed = time.time() - started
    info = procstat.machine()
    print(
        f"ping flood, {args.rounds} rounds of {args.phase_s:g} s unloaded / {args.phase_s:g} s"
        f" flooded, {args.victims} victims every {args.interval_ms:g} ms, {FLOODERS} flooders"
        f" ({args.flood_address} addresses, refused handshakes retried"
        f" {'at once' if args.retry_refused == 'now' else 'after Retry-After'});"
        f" {info['cpu']}, {info['cores']} cores; took {elapsed:.0f} s\n"
    )
    for cell in cells:
        print(f"{cell['code']}: {cell['commit']} limits {json.dumps(cell['limits'])}")
    print()
    print(tables(cells))
    for cell in cells:
        text = profile_table(cell)
        if text:
            print("\n" + text)
    if args.json is not None:
        args.json.write_text(json.dumps(cells, indent=1, default=str))
    met = all(
        (cell[f"{kind}_p99_ratio"] or math.inf) <= TARGET_RATIO
        for cell in cells
        if cell["code"] == "HEAD"
        for kind in KINDS
    )
    print(
        f"\nping-flood: p99 within {TARGET_RATIO:g}x of unloaded on HEAD: {'yes' if met else 'no'}"
    )


def main() -> None:
    argv = sys.argv[1:]
    role = argv[0] if argv else ""
    if role == "serve":
        serve(argv[1:])
    elif role == "parse-cost":
        parse_cost(argv[1:])
    elif role in ("victim", "flood"):
        with open(argv[1]) as handle:
            spec = json.load(handle)
        run_role(victims if role == "victim" else flooders, spec)
    else:
        run(argv)


if __name__ == "__main__":
    main()
