"""The load client: many WebSocket connections in one process, as cheap as we
can make them in Python, so that the server saturates first.

Every connection is an ``asyncio.Protocol`` over a raw socket (on uvloop when
it is installed). The HTTP upgrade request and every client frame are built
and masked once, before the clock starts; a reply is parsed only as far as the
scenario needs: a byte count of ``"seq":`` for agent events (also inside
``batch`` frames) and a C-level regex over ``"timestamp":`` to sample latency
from the server's encode time to the moment the bytes reach us.

Usage: ``python -m benchmarks.loadclient SPEC.json``. The spec names the mode
(``rtt``, ``push``, ``agents``, ``idle``, ``priority``) and its parameters.
The client prints marker lines to stdout for the runner, which samples both
processes' CPU at them: ``@start`` and ``@end`` around the measured window,
``@ready N`` (idle: N connections are up; the runner answers ``continue`` on
stdin), and finally ``@result {json}``. Every loop is bounded by a count and
a deadline, and the whole client by ``hard_timeout_s``.

With ``ports`` (a list) in the spec, connection ``i`` goes to
``ports[i % len(ports)]``: the nodes of a cluster, in turn. ``push`` with
``senders`` (connection indices) sends the start message on those connections
only; the others say hello first (a ``heartbeat``, so the server does not hold
their live events) and only receive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

TIMESTAMP = re.compile(rb'"timestamp":(-?[0-9][0-9.eE+-]*)')
SEQ = b'"seq":'
COMPLETED = b'"type":"agent_completed"'
AGENT_ERROR = b'"type":"agent_error"'
TYPING_ACK = b'"type":"typing_ack"'
USER_TYPING = b'"type":"user_typing"'
ERROR = b'"type":"error"'


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One complete client frame (FIN set), masked with a random key."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    if not n:
        return header + key
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return header + key + masked


def text_frame(obj: Any) -> bytes:
    return mask_frame(json.dumps(obj, separators=(",", ":")).encode())


def upgrade_request(host: str, port: int, path: str, token: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


Handler = Callable[["Conn", bytes, float], None]


class Conn(asyncio.Protocol):
    """One WebSocket connection: handshake, frame parsing, ping answers."""

    __slots__ = (
        "buf",
        "closed",
        "expect_first",
        "got",
        "handler",
        "index",
        "open",
        "ready",
        "request",
        "role",
        "sent_at",
        "toggle",
        "transport",
    )

    def __init__(self, request: bytes, expect_first: bool, index: int) -> None:
        self.request = request
        self.expect_first = expect_first
        self.index = index
        self.buf = b""
        self.open = False
        self.closed = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handler: Handler | None = None
        self.transport: Any = None
        self.got = 0
        self.sent_at = 0.0
        self.role = 0
        self.toggle = 0

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; only write/close are used.
        self.transport = transport
        transport.write(self.request)

    def send(self, frame: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(frame)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if not data.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
                status = data[: data.find(b"\r\n")].decode("latin-1", "replace")
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(f"handshake refused: {status}"))
                self.closed = True
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            data = data[end + 4 :]
            if not self.expect_first and not self.ready.done():
                self.ready.set_result(None)
        now = time.time()
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
            payload = data[head:end]
            pos = end
            opcode = b0 & 0x0F
            if opcode == 0x1 or opcode == 0x2 or opcode == 0x0:
                # Servers here never fragment; a continuation is counted as its own piece.
                if self.handler is not None:
                    self.handler(self, payload, now)
                elif not self.ready.done():
                    self.ready.set_result(None)
            elif opcode == 0x9:
                self.send(mask_frame(payload, 0xA))
            elif opcode == 0x8:
                if not self.closed:
                    self.send(mask_frame(payload[:2], 0x8))
                    self.closed = True
                    assert self.transport is not None
                    self.transport.close()
                return
        if pos < n:
            self.buf = data[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))


class Stats:
    """Counters and latency samples of one phase."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.events = 0
        self.frames = 0
        self.bytes = 0
        self.count = 0
        self.errors = 0
        self.extra: dict[str, int] = {}


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float | int]:
    if not values:
        return {"samples": 0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * scale, 3)

    return {
        "samples": n,
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * scale, 3),
        "mean_ms": round(sum(ordered) / n * scale, 3),
    }


def marker(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def measured_window(state: dict[str, Any], warmup_s: float, duration_s: float) -> float:
    """Warm up, then measure for ``duration_s`` between the ``@start`` and
    ``@end`` markers that the runner reads; stops the load loop (``running``)
    and returns the measured seconds."""
    await asyncio.sleep(warmup_s)
    marker("@start")
    state["measuring"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(duration_s)
    state["measuring"] = False
    elapsed = time.perf_counter() - t0
    marker("@end")
    state["running"] = False
    return elapsed


def log(text: str) -> None:
    sys.stderr.write(f"[loadclient] {text}\n")
    sys.stderr.flush()


class Client:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host: str = spec["host"]
        self.port: int = spec["port"]
        self.ports: list[int] = spec.get("ports") or [self.port]
        self.expect_first: bool = spec.get("expect_established", False)
        self.conns: list[Conn] = []
        self.failed = 0
        self.fail_reasons: dict[str, int] = {}

    async def connect(self, count: int, path: str, tokens: list[str] | None) -> list[Conn]:
        """Open ``count`` connections, at most ``connect_concurrency`` handshakes at once."""
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.spec.get("connect_concurrency", 100))
        timeout = self.spec.get("connect_timeout_s", 30.0)
        base = len(self.conns)
        opened: list[Conn | None] = [None] * count

        async def one(i: int) -> None:
            token = tokens[(base + i) % len(tokens)] if tokens else None
            port = self.ports[(base + i) % len(self.ports)]
            request = upgrade_request(self.host, port, path, token)
            async with limit:
                try:
                    _, proto = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: Conn(request, self.expect_first, base + i), self.host, port
                        ),
                        timeout,
                    )
                    await asyncio.wait_for(proto.ready, timeout)
                    opened[i] = proto
                except (OSError, TimeoutError, ConnectionError) as exc:
                    self.failed += 1
                    reason = str(exc)[:80] or type(exc).__name__
                    self.fail_reasons[reason] = self.fail_reasons.get(reason, 0) + 1

        await asyncio.gather(*(one(i) for i in range(count)))
        conns = [c for c in opened if c is not None]
        self.conns.extend(conns)
        if not conns:
            raise ConnectionError(f"no connection could be opened: {self.fail_reasons}")
        return conns

    def close_all(self) -> None:
        goodbye = mask_frame((1000).to_bytes(2, "big"), 0x8)
        for conn in self.conns:
            if not conn.closed and conn.transport is not None:
                conn.send(goodbye)
                conn.transport.close()
                conn.closed = True

    # -- scenarios -----------------------------------------------------------------

    async def rtt(self) -> dict[str, Any]:
        spec = self.spec
        conns = await self.connect(spec["connections"], spec["path"], spec.get("tokens"))
        frame = text_frame(spec["message"])
        stats = Stats()
        state = {"measuring": False, "running": True}
        max_round_trips = spec.get("max_round_trips", 50_000_000)
        perf = time.perf_counter

        def on_message(conn: Conn, payload: bytes, now: float) -> None:
            t = perf()
            if state["measuring"]:
                stats.latencies.append(t - conn.sent_at)
                stats.count += 1
                if stats.count >= max_round_trips:
                    state["running"] = False
            conn.got += 1
            if state["running"]:
                conn.sent_at = t
                conn.send(frame)

        for conn in conns:
            conn.handler = on_message
        for conn in conns:
            conn.sent_at = perf()
            conn.send(frame)
        elapsed = await measured_window(state, spec.get("warmup_s", 1.0), spec["duration_s"])
        await asyncio.sleep(0.2)
        self.close_all()
        return {
            "connections": len(conns),
            "round_trips": stats.count,
            "seconds": round(elapsed, 3),
            "round_trips_per_s": round(stats.count / elapsed, 1),
            "latency": percentiles(stats.latencies),
        }

    async def push(self) -> dict[str, Any]:
        spec = self.spec
        conns = await self.connect(spec["connections"], spec["path"], spec.get("tokens"))
        start = text_frame(spec["start_message"])
        expected: int = spec["expected_events"]
        sample_every: int = spec.get("sample_every", 1)
        stats = Stats()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        state = {"remaining": len(conns), "first_rx": 0.0, "last_rx": 0.0}
        findall = TIMESTAMP.findall

        def on_message(conn: Conn, payload: bytes, now: float) -> None:
            stats.frames += 1
            stats.bytes += len(payload)
            n = payload.count(SEQ)
            if not n:
                if ERROR in payload:
                    stats.errors += 1
                    log(f"error frame: {payload[:200]!r}")
                return
            if not state["first_rx"]:
                state["first_rx"] = now
            state["last_rx"] = now
            stats.events += n
            if stats.frames % sample_every == 0:
                for stamp in findall(payload):
                    stats.latencies.append(now - float(stamp))
            before = conn.got
            conn.got += n
            if before < expected <= conn.got:
                state["remaining"] -= 1
                if state["remaining"] == 0 and not done.done():
                    done.set_result(None)

        chosen = spec.get("senders")
        sending = {c.index for c in conns} if chosen is None else set(chosen)
        senders = [c for c in conns if c.index in sending]
        if chosen is not None:
            hello = text_frame({"type": "heartbeat"})
            for conn in conns:
                if conn.index not in sending:
                    conn.send(hello)
            await asyncio.sleep(0.5)  # (the replies arrive before the handlers are set)
        for conn in conns:
            conn.handler = on_message
        await asyncio.sleep(0.2)
        marker("@start")
        t0 = time.time()
        for conn in senders:
            conn.send(start)
        timed_out = False
        try:
            await asyncio.wait_for(done, spec.get("timeout_s", 60.0))
        except TimeoutError:
            timed_out = True
        t1 = time.time()
        marker("@end")
        elapsed = (state["last_rx"] or t1) - t0
        self.close_all()
        steady = state["last_rx"] - state["first_rx"]
        by_port = [0] * len(self.ports)
        for conn in conns:
            by_port[conn.index % len(self.ports)] += conn.got
        return {
            "connections": len(conns),
            "senders": len(senders),
            "events_by_port": by_port,
            "events_on_receivers": sum(c.got for c in conns if c.index not in sending),
            "events": stats.events,
            "events_expected": expected * len(conns),
            "frames": stats.frames,
            "bytes_per_event": round(stats.bytes / max(stats.events, 1), 1),
            "events_per_frame": round(stats.events / max(stats.frames, 1), 2),
            "seconds": round(elapsed, 3),
            "events_per_s": round(stats.events / elapsed, 1) if elapsed > 0 else 0,
            "events_per_s_first_to_last": round(stats.events / steady, 1) if steady > 0 else 0,
            "timed_out": timed_out,
            "error_frames": stats.errors,
            "latency": percentiles(stats.latencies),
        }

    async def agents(self) -> dict[str, Any]:
        spec = self.spec
        conns = await self.connect(spec["connections"], spec["path"], spec.get("tokens"))
        request = text_frame(spec["message"])
        stats = Stats()
        state = {"measuring": False, "running": True, "agent_errors": 0, "in_flight": 0}
        max_runs = spec.get("max_runs", 10_000_000)
        drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        findall = TIMESTAMP.findall

        def on_message(conn: Conn, payload: bytes, now: float) -> None:
            n = payload.count(SEQ)
            if state["measuring"]:
                stats.frames += 1
                stats.events += n
                for stamp in findall(payload):
                    stats.latencies.append(now - float(stamp))
            if ERROR in payload:
                stats.errors += 1
                if stats.errors <= 3:
                    log(f"error frame: {payload[:300]!r}")
            ended = payload.count(COMPLETED) + payload.count(AGENT_ERROR)
            if not ended:
                return
            state["agent_errors"] += payload.count(AGENT_ERROR)
            state["in_flight"] -= 1
            if state["in_flight"] == 0 and not state["running"] and not drained.done():
                drained.set_result(None)
            if state["measuring"]:
                stats.count += ended
                if stats.count >= max_runs:
                    state["running"] = False
            if state["running"]:
                state["in_flight"] += 1
                conn.send(request)

        for conn in conns:
            conn.handler = on_message
        # Spread the first requests so that runs do not finish in lockstep waves.
        stagger = spec.get("stagger_s", 0.0) / max(len(conns), 1)
        loop = asyncio.get_running_loop()
        for i, conn in enumerate(conns):
            state["in_flight"] += 1
            loop.call_later(i * stagger, conn.send, request)
        elapsed = await measured_window(state, spec.get("warmup_s", 2.0), spec["duration_s"])
        if state["in_flight"] > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained, spec.get("drain_timeout_s", 10.0))
        self.close_all()
        return {
            "connections": len(conns),
            "runs": stats.count,
            "seconds": round(elapsed, 3),
            "runs_per_s": round(stats.count / elapsed, 1),
            "events": stats.events,
            "events_per_s": round(stats.events / elapsed, 1),
            "events_per_run": round(stats.events / max(stats.count, 1), 2),
            "agent_errors": state["agent_errors"],
            "error_frames": stats.errors,
            "unfinished_at_end": state["in_flight"],
            "latency": percentiles(stats.latencies),
        }

    async def idle(self) -> dict[str, Any]:
        spec = self.spec
        loop = asyncio.get_running_loop()
        stages: list[dict[str, Any]] = []
        for target in spec["stages"]:
            t0 = time.perf_counter()
            await self.connect(target - len(self.conns), spec["path"], spec.get("tokens"))
            held = sum(1 for c in self.conns if not c.closed)
            stages.append(
                {
                    "target": target,
                    "held": held,
                    "connect_s": round(time.perf_counter() - t0, 2),
                    "failed": self.failed,
                }
            )
            marker(f"@ready {held}")
            answer = await asyncio.wait_for(
                loop.run_in_executor(None, sys.stdin.readline), spec.get("hold_timeout_s", 120.0)
            )
            stages[-1]["held_after"] = sum(1 for c in self.conns if not c.closed)
            if answer.strip() != "continue":
                break
        self.close_all()
        return {"stages": stages}

    async def priority(self) -> dict[str, Any]:
        spec = self.spec
        users: int = spec["users"]
        per_user: int = 1 + spec["flooders_per_user"]
        tokens: list[str] = spec["tokens"]  # one per user
        conns = await self.connect(
            users * per_user, spec["path"], [t for t in tokens[:users] for _ in range(per_user)]
        )
        receivers = [c for c in conns if c.index % per_user == 0]
        flooders = [c for c in conns if c.index % per_user != 0]
        start = text_frame(spec["start_message"])
        typing = [text_frame({"type": "typing_started"}), text_frame({"type": "typing_stopped"})]
        expected: int = spec["expected_events"]
        window: int = spec.get("flood_window", 4)
        max_typing = spec.get("max_typing_messages", 20_000_000)
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {"flooding": False, "phase": Stats(), "done": None, "left": 0}

        def on_message(conn: Conn, payload: bytes, now: float) -> None:
            phase: Stats = state["phase"]
            n = payload.count(SEQ)
            if n:
                phase.events += n
                for stamp in TIMESTAMP.findall(payload):
                    phase.latencies.append(now - float(stamp))
                if conn.role == 0:
                    before = conn.got
                    conn.got += n
                    if before < expected <= conn.got:
                        state["left"] -= 1
                        if state["left"] == 0 and not state["done"].done():
                            state["done"].set_result(None)
            low = payload.count(USER_TYPING)
            if low:
                phase.extra["user_typing_received"] = (
                    phase.extra.get("user_typing_received", 0) + low
                )
            acks = payload.count(TYPING_ACK)
            if acks:
                phase.count += acks
                if state["flooding"] and phase.count < max_typing:
                    for _ in range(acks):
                        conn.toggle ^= 1
                        conn.send(typing[conn.toggle])

        for conn in conns:
            conn.handler = on_message
        for conn in flooders:
            conn.role = 1
        # netra-trio holds live events back on a new connection until its first client
        # frame (at most 1 s, so that an immediate `resume` replays them in order): every
        # connection says something first, as a real client does.
        hello = text_frame({"type": "heartbeat"})
        for conn in conns:
            conn.send(hello)
        await asyncio.sleep(0.5)

        async def run_phase(flood: bool) -> dict[str, Any]:
            phase = Stats()
            state["phase"] = phase
            state["done"] = loop.create_future()
            state["left"] = len(receivers)
            for conn in receivers:
                conn.got = 0
            if flood:
                state["flooding"] = True
                for conn in flooders:
                    for _ in range(window):
                        conn.toggle ^= 1
                        conn.send(typing[conn.toggle])
                await asyncio.sleep(spec.get("flood_lead_s", 1.0))
                phase.latencies.clear()
                phase.count = 0
                phase.extra.clear()
            marker("@start")
            t0 = time.perf_counter()
            stagger = spec.get("start_stagger_s", 0.0) / max(len(receivers), 1)
            for i, conn in enumerate(receivers):
                loop.call_later(i * stagger, conn.send, start)
            timed_out = False
            try:
                await asyncio.wait_for(state["done"], spec.get("timeout_s", 60.0))
            except TimeoutError:
                timed_out = True
            elapsed = time.perf_counter() - t0
            marker("@end")
            state["flooding"] = False
            await asyncio.sleep(0.5)  # let the flood's in-flight acks come back
            return {
                "critical_events": phase.events,
                "seconds": round(elapsed, 3),
                "timed_out": timed_out,
                "typing_acks_per_s": round(phase.count / elapsed, 1),
                "user_typing_received_per_s": round(
                    phase.extra.get("user_typing_received", 0) / elapsed, 1
                ),
                "critical_latency": percentiles(phase.latencies),
            }

        unloaded = await run_phase(False)
        loaded = await run_phase(True)
        self.close_all()
        return {
            "users": users,
            "connections": len(conns),
            "receivers": len(receivers),
            "flooders": len(flooders),
            "unloaded": unloaded,
            "loaded": loaded,
        }


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    client = Client(spec)
    mode = spec["mode"]
    t0 = time.perf_counter()
    try:
        result = await asyncio.wait_for(getattr(client, mode)(), spec.get("hard_timeout_s", 300.0))
    finally:
        client.close_all()
    result["connect_failures"] = client.failed
    if client.fail_reasons:
        result["connect_failure_reasons"] = dict(list(client.fail_reasons.items())[:5])
    result["client_seconds"] = round(time.perf_counter() - t0, 2)
    return result


def run() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    spec["fd_limit"] = raise_fd_limit()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(main(spec))
        result["event_loop"] = "asyncio"
    else:
        result = uvloop.run(main(spec))
        result["event_loop"] = "uvloop"
    marker("@result " + json.dumps(result))


if __name__ == "__main__":
    run()
