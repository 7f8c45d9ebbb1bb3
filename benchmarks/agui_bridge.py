"""The AG-UI bridge cell: runs of an AG-UI endpoint through the server (``--agui-agent``)
against the same runs made by an in-process agent (``--agents``).
``python -m benchmarks.agui_bridge [--quick] [--rounds N] [--profile] [--json PATH]``.

Four kinds of process, each its own, on loopback:

- the AG-UI endpoint (``endpoint`` role): a raw HTTP/1.1 server on asyncio and
  uvloop, one for the whole invocation. Each ``POST`` is answered ``200``,
  ``text/event-stream``, chunked (one chunk per event, as uvicorn streams a
  response), with the run's :func:`script` encoded once at start by the AG-UI
  SDK (``ag_ui.core`` events, ``ag_ui.encoder.EventEncoder``): each text delta
  and each tool result carries a placeholder that becomes ``t=<time.time()>;``
  as the event is written (its send time). The run's shape is read from the
  request: the last message of the ``RunAgentInput`` is the run's input, a JSON
  object ``{"steps", "deltas", "interval_ms"}``. With ``interval_ms`` the
  events are written that far apart (event k at k x interval after the
  request), otherwise all at once, each in its own write;
- the server (``serve`` role): :mod:`benchmarks.netra_server`'s configuration
  (limits raised, a fresh SQLite file, logs at ``info`` to a file) plus
  ``agents=("benchmarks.agui_bridge:AGENTS",)`` and ``agui_agents=(("bench_agui",
  URL),)``, so the server is the same for both and only the agent named by the
  client differs: ``bench_agui`` (the bridge: POST on h11, httpx-sse's decoders, the
  event mapping, then ``ctx.emit``) or ``bench_proc`` (:func:`inproc_agent`:
  the same script, the same ``ctx.emit`` calls with the same payloads the
  bridge makes of it, at the times the endpoint sends those events, no HTTP);
- the load client (``client`` role): asyncio Protocols on uvloop, the load
  client's masked frames (:mod:`benchmarks.loadclient`), one connection per
  user. *paced*: each user starts a run every ``period_s`` (users spread over
  the period; open loop, so both agents get the same offered load), the
  events of a run ``interval_ms`` apart; *saturated*: each user starts its
  next run when the last one's ``agent_completed`` arrives, the events of a
  run written at once.

Per load one server and one client, and phases in turn: each phase starts the
runs of one agent, lets the other agent's runs end (``--transition-s``), then
is measured (``--duration-s``, between the client's ``@start K`` and ``@end
K``). A round is a phase of each agent, the bridge first in odd rounds and
second in even ones: this host's speed drifts from one second to the next,
so the two agents are compared phase against phase, a few seconds apart, and
the CPU ratio is the median of the rounds' ratios. In each window the runner
samples the CPU of the server (also by thread: its event loop, and the
others, SQLite's), the endpoint and the client (``/proc/PID/stat``) and of
the whole machine. The client counts only the events of the phase's agent
(by ``agent_name``) and reports those of the other agent still arriving
(none expected). Latency is reported per phase and over all the phases of an
agent; the p99 target is checked on the latter.

CPU placement (``--pin``): on the 2-vCPU VM this was made on, a
thread runs Python at ~0.55x its speed while the other vCPU is busy, so a
process's CPU seconds depend on what runs beside it; and with the server alone
on one vCPU and its peers on the other, its CPU per run was higher and varied
more from one measurement to the next than with all of them on one vCPU. By default
(``one``) the server, the endpoint, the client, py-spy and the runner all run
on CPU 0 and CPU 1 is left to the rest of the machine: each process's CPU
seconds are its own work, comparable between the agents; the saturated
load's server shares its core with the client (and the endpoint). ``split``: the
server on CPU 0, everything else on CPU 1; ``none``: wherever the kernel puts
them.

Events = agent events received by the client in the window (frames with a
``seq``); deltas = send stamps received in ``agent_output`` payloads (each
text delta of the script carries one, and the server merges consecutive
deltas into one ``agent_output`` at most every 50 ms). Latency: *emit ->
receipt* is receipt - the frame's ``timestamp`` (when the agent emitted the
event: for the bridge, after it has read and mapped the AG-UI event); *send
-> receipt* is receipt - the stamp in the payload (when the endpoint wrote
the event; for the in-process agent, paced: when the event was due, so that
a late wake-up counts as a late read of the endpoint's stream does;
saturated: when it made the event, which is not comparable, since the
endpoint writes a whole run at once and its events wait in the socket for
the bridge), for text deltas (held up to 50 ms by the merge, for both agents)
and for tool results (one event each, never held).

``--profile`` runs ``py-spy record --rate 200`` (blocking, for whole stacks) on
the server for 10 s of a paced phase of each agent (a server of its own, after
the rounds), and prints
the server's CPU per run (measured in that phase) split by the samples' shares:
by where it was spent (the innermost frame) and by what for (the agent's parts:
``ctx.emit``, reading the stream, mapping, the request, the rest), bridge
against in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import procstat
from benchmarks.harness import PY, ROOT, ServerProcess, fmt, log

BRIDGE = "bench_agui"
INPROC = "bench_proc"
USERS = 100
STEPS = 4  # tool call + text message, per run
DELTAS = 10  # text deltas per message
DELTA_CHARS = 48  # each delta's text, its stamp included
INTERVAL_MS = 10.0  # paced: between two AG-UI events of a run
PERIOD_S = 4.0  # paced: between two runs of a user
CPU_RATIO_TARGET = 1.5
P99_ADDED_TARGET_MS = 10.0
PROFILE_RATE = 200
PROFILE_SECONDS = 10
PLACEMENTS = {"split": ({0}, {1}), "one": ({0}, {0}), "none": None}  # server's CPUs, the rest's
STAMP_PLACEHOLDER = "t=0000000000.000000;"
STAMP = re.compile(rb"t=([0-9]{10}\.[0-9]{6});")
TIMESTAMP = re.compile(rb'"timestamp":(-?[0-9][0-9.eE+-]*)')
SEQ = b'"seq":'
TOOL_ARGS = {"model": "gpt-4o", "region": "us-east-1", "tokens": {"input": 1500, "output": 300}}
TOOL_NAME = "unit_price"
RESULT_TEXT = " gpt-4o: $2.50 per million input tokens, $10.00 per million output tokens"
FILLER = "Caching the 1.2k-token system prompt cuts the input bill by about half. " * 4
LOADS = ("paced", "saturated")
REPORTED = frozenset({"TOOL_CALL_END", "TOOL_CALL_RESULT", "TEXT_MESSAGE_CONTENT"})
AGENT_LABELS = {BRIDGE: "bridge", INPROC: "in-process"}


# -- the run's script, shared by the endpoint and the in-process agent -----------------------


def script(steps: int, deltas: int) -> list[tuple[str, ...]]:
    """One run's AG-UI events, as ``(kind, *fields)``: RUN_STARTED, then ``steps``
    times a tool call (START, ARGS, END, RESULT) and an assistant text message
    (START, ``deltas`` x CONTENT, END), then RUN_FINISHED. Text deltas and tool
    results hold :data:`STAMP_PLACEHOLDER` where the send time goes."""
    filler = FILLER[: DELTA_CHARS - len(STAMP_PLACEHOLDER)]
    args = json.dumps(TOOL_ARGS, separators=(",", ":"))
    events: list[tuple[str, ...]] = [("RUN_STARTED",)]
    for step in range(1, steps + 1):
        call, message = f"call-{step}", f"msg-{step}"
        events += [
            ("TOOL_CALL_START", call, TOOL_NAME),
            ("TOOL_CALL_ARGS", call, args),
            ("TOOL_CALL_END", call),
            ("TOOL_CALL_RESULT", call, STAMP_PLACEHOLDER + RESULT_TEXT),
            ("TEXT_MESSAGE_START", message),
            *(("TEXT_MESSAGE_CONTENT", message, STAMP_PLACEHOLDER + filler),) * deltas,
            ("TEXT_MESSAGE_END", message),
        ]
    events.append(("RUN_FINISHED",))
    return events


def stamp() -> str:
    return f"t={time.time():.6f};"


def run_shape(value: Any) -> tuple[int, int, float]:
    data: dict[str, Any] = value if isinstance(value, dict) else {}
    steps = max(0, min(int(data.get("steps", STEPS)), 1000))
    deltas = max(0, min(int(data.get("deltas", DELTAS)), 10_000))
    return steps, deltas, max(0.0, float(data.get("interval_ms", 0.0))) / 1000


# -- the in-process agent (--agents benchmarks.agui_bridge:AGENTS) -----------------------------


async def inproc_agent(ctx: Any) -> Any:
    """The endpoint's run without HTTP: each event of the script that the bridge
    reports is reported the same way (``agui/agent.py``: ``tool_executing`` at
    TOOL_CALL_END, ``tool_completed`` at TOOL_CALL_RESULT, ``agent_output`` per
    delta, the same result), at the time the endpoint would send it; the agent
    wakes only for those (the other events are the wire format's)."""
    import trio

    from netra_trio.agents.base import AgentResult

    steps, deltas, interval = run_shape(ctx.input)
    name = ctx.agent_name
    emit = ctx.emit
    texts: dict[str, list[str]] = {}
    start, wall = trio.current_time(), time.time()
    for k, event in enumerate(script(steps, deltas)):
        kind = event[0]
        if kind not in REPORTED:
            continue
        if interval:
            await trio.sleep_until(start + k * interval)
        # paced: the time the event is due (a late wake-up counts, as a late read of
        # the endpoint's stream does); otherwise now
        sent = f"t={wall + k * interval:.6f};" if interval else stamp()
        if kind == "TOOL_CALL_END":
            await emit.tool_started(name, TOOL_NAME, dict(TOOL_ARGS), tool_call_id=event[1])
        elif kind == "TOOL_CALL_RESULT":
            await emit.tool_finished(event[1], event[2].replace(STAMP_PLACEHOLDER, sent))
        elif kind == "TEXT_MESSAGE_CONTENT":
            delta = event[2].replace(STAMP_PLACEHOLDER, sent)
            texts.setdefault(event[1], []).append(delta)
            await emit.output(name, delta, output_id=event[1])
    text = "\n\n".join("".join(parts) for parts in texts.values())
    return AgentResult(result={"text": text}, report=text)


AGENTS = {INPROC: inproc_agent}


# -- the AG-UI endpoint ----------------------------------------------------------------------


def encoded_script(steps: int, deltas: int) -> list[tuple[bytes, bool]]:
    """Each event of :func:`script` as one HTTP chunk (its SSE bytes made by the
    SDK's encoder), and whether it holds a stamp placeholder."""
    from ag_ui.core import (
        BaseEvent,
        RunFinishedEvent,
        RunStartedEvent,
        TextMessageContentEvent,
        TextMessageEndEvent,
        TextMessageStartEvent,
        ToolCallArgsEvent,
        ToolCallEndEvent,
        ToolCallResultEvent,
        ToolCallStartEvent,
    )
    from ag_ui.encoder import EventEncoder

    encoder = EventEncoder()
    chunks: list[tuple[bytes, bool]] = []
    for kind, *fields in script(steps, deltas):
        event: BaseEvent
        match kind:
            case "RUN_STARTED":
                event = RunStartedEvent(thread_id="t-bench", run_id="r-bench")
            case "RUN_FINISHED":
                event = RunFinishedEvent(thread_id="t-bench", run_id="r-bench")
            case "TOOL_CALL_START":
                event = ToolCallStartEvent(tool_call_id=fields[0], tool_call_name=fields[1])
            case "TOOL_CALL_ARGS":
                event = ToolCallArgsEvent(tool_call_id=fields[0], delta=fields[1])
            case "TOOL_CALL_END":
                event = ToolCallEndEvent(tool_call_id=fields[0])
            case "TOOL_CALL_RESULT":
                event = ToolCallResultEvent(
                    message_id=f"{fields[0]}-result", tool_call_id=fields[0], content=fields[1]
                )
            case "TEXT_MESSAGE_START":
                event = TextMessageStartEvent(message_id=fields[0], role="assistant")
            case "TEXT_MESSAGE_CONTENT":
                event = TextMessageContentEvent(message_id=fields[0], delta=fields[1])
            case "TEXT_MESSAGE_END":
                event = TextMessageEndEvent(message_id=fields[0])
            case _:
                raise ValueError(kind)
        data = encoder.encode(event).encode()
        chunk = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        chunks.append((chunk, STAMP_PLACEHOLDER.encode() in chunk))
    return chunks


RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
)


class EndpointConn(asyncio.Protocol):
    """One request: read its head and body, then stream the run."""

    def __init__(self, scripts: dict[tuple[int, int], list[tuple[bytes, bool]]]) -> None:
        self.scripts = scripts
        self.buf = b""
        self.transport: Any = None
        self.started = False
        self.lost = False
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.started:
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = self.buf[end + 4 :]
        if len(body) < length:
            return
        self.started = True
        request = json.loads(body[:length])
        run_input = json.loads(request["messages"][-1]["content"])
        asyncio.get_running_loop().create_task(self.stream(run_input))

    async def stream(self, run_input: dict[str, Any]) -> None:
        steps, deltas, interval = run_shape(run_input)
        chunks = self.scripts.get((steps, deltas))
        if chunks is None:
            chunks = self.scripts[steps, deltas] = encoded_script(steps, deltas)
        loop = asyncio.get_running_loop()
        placeholder = STAMP_PLACEHOLDER.encode()
        self.transport.write(RESPONSE_HEAD)
        start = loop.time()
        for k, (chunk, stamped) in enumerate(chunks):
            if interval:
                delay = start + k * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not self.writable.is_set():
                await self.writable.wait()
            if self.lost:
                return
            self.transport.write(chunk.replace(placeholder, stamp().encode()) if stamped else chunk)
        self.transport.write(b"0\r\n\r\n")
        self.transport.close()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.writable.set()


def endpoint() -> None:
    """The endpoint role: prints ``listening PORT``, serves until stdin closes."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        scripts = {(STEPS, DELTAS): encoded_script(STEPS, DELTAS)}
        server = await loop.create_server(
            lambda: EndpointConn(scripts), "127.0.0.1", 0, backlog=1024
        )
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    uvloop.run(main())


# -- the server ------------------------------------------------------------------------------


def serve(argv: list[str]) -> None:
    """The server role: netra_server's configuration, both agents registered."""
    import resource

    import attrs
    import trio

    from benchmarks.netra_server import bench_config
    from benchmarks.netra_server import serve as serve_config
    from netra_trio.logs import configure_logging

    parser = argparse.ArgumentParser(prog="agui_bridge serve")
    parser.add_argument("--database", required=True)
    parser.add_argument("--agui-url", required=True)
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    config = attrs.evolve(
        bench_config(args.database, 0, max_connections_per_user=16),
        agents=("benchmarks.agui_bridge:AGENTS",),
        agui_agents=((BRIDGE, args.agui_url),),
    )
    configure_logging(config.log_format, config.log_level)
    trio.run(serve_config, config, None)


class BridgeServer(ServerProcess):
    """The ``serve`` role in its own process, on a fresh SQLite file."""

    def __init__(
        self, workdir: Path, secret: str, agui_url: str, cpus: set[int] | None = None
    ) -> None:
        self.kind = "netra"
        stamp_ = f"agui-{time.monotonic_ns()}"
        self.database = workdir / f"{stamp_}.db"
        env = dict(os.environ, NETRA_JWT_SECRET=secret, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        argv = [PY, "-m", "benchmarks.agui_bridge", "serve", "--database", str(self.database)]
        argv += ["--agui-url", agui_url]
        self.log_path = workdir / f"{stamp_}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        if cpus is not None:
            pin(self.proc.pid, cpus)
        self.port = self._wait_listening(timeout_s=60.0)
        if cpus is not None:
            pin(self.proc.pid, cpus)


# -- the load client -------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"samples": 0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * 1000, 2)

    return {"samples": n, "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


class Phase:
    """What the client counts in one measured window, for the phase's agent."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.name = f'"agent_name":"{agent}"'.encode()
        self.counts = {"events": 0, "deltas": 0, "runs": 0, "other_agent_events": 0}
        self.by_type: dict[str, int] = {}
        self.emitted: list[float] = []
        self.sent_delta: list[float] = []
        self.sent_tool: list[float] = []

    def report(self, seconds: float) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "seconds": round(seconds, 3),
            **self.counts,
            "events_by_type": self.by_type,
            "emit_to_receipt": percentiles(self.emitted),
            "send_to_receipt_deltas": percentiles(self.sent_delta),
            "send_to_receipt_tool_results": percentiles(self.sent_tool),
        }


async def client_main(spec: dict[str, Any]) -> dict[str, Any]:
    """One connection per user; the runs of ``spec["phases"]``' agents in turn, each
    phase a transition (the last agent's runs end) then a measured window between
    ``@start K`` and ``@end K``."""
    from benchmarks.loadclient import Conn, marker, mask_frame, text_frame, upgrade_request

    loop = asyncio.get_running_loop()
    users: int = spec["users"]
    paced = spec["load"] == "paced"
    conns: list[Conn] = []
    for i, token in enumerate(spec["tokens"][:users]):
        request = upgrade_request("127.0.0.1", spec["port"], "/ws", token)
        _, conn = await loop.create_connection(
            lambda request=request, i=i: Conn(request, True, i), "127.0.0.1", spec["port"]
        )
        conns.append(conn)
    await asyncio.wait_for(asyncio.gather(*(c.ready for c in conns)), 30)
    frames = {
        agent: text_frame(
            {"type": "start_agent", "payload": {"agent": agent, "input": spec["input"]}}
        )
        for agent in set(spec["phases"])
    }
    hello = text_frame({"type": "heartbeat"})
    state: dict[str, Any] = {"phase": None, "running": True, "in_flight": 0}
    state["frame"] = frames[spec["phases"][0]]
    totals = {"agent_errors": 0, "errors": 0}
    findall_ts, findall_stamp = TIMESTAMP.findall, STAMP.findall
    drained = loop.create_future()

    def start_run(conn: Conn) -> None:
        if state["running"] and not conn.closed:
            state["in_flight"] += 1
            conn.send(state["frame"])

    def on_message(conn: Conn, payload: bytes, now: float) -> None:
        kind = payload[9 : payload.find(b'"', 9)].decode()
        if SEQ not in payload:
            if kind == "error":
                totals["errors"] += 1
                if totals["errors"] <= 3:
                    log(f"error frame: {payload[:300]!r}")
            return
        ended = kind in ("agent_completed", "agent_error")
        phase: Phase | None = state["phase"]
        if phase is not None:
            if phase.name not in payload:
                phase.counts["other_agent_events"] += 1
            else:
                phase.counts["events"] += 1
                phase.by_type[kind] = phase.by_type.get(kind, 0) + 1
                for ts in findall_ts(payload):
                    phase.emitted.append(now - float(ts))
                if kind == "agent_output":
                    stamps = findall_stamp(payload)
                    phase.counts["deltas"] += len(stamps)
                    phase.sent_delta.extend(now - float(s) for s in stamps)
                elif kind == "tool_completed":
                    phase.sent_tool.extend(now - float(s) for s in findall_stamp(payload))
                if ended:
                    phase.counts["runs"] += 1
        if ended:
            if kind == "agent_error":
                totals["agent_errors"] += 1
                if totals["agent_errors"] <= 3:
                    log(f"agent_error: {payload[:300]!r}")
            state["in_flight"] -= 1
            if not state["running"] and state["in_flight"] <= 0 and not drained.done():
                drained.set_result(None)
            if not paced:
                start_run(conn)

    for conn in conns:
        conn.handler = on_message
        conn.send(hello)
    await asyncio.sleep(0.5)
    period = spec.get("period_s", PERIOD_S)

    def tick(conn: Conn) -> None:
        if state["running"]:
            start_run(conn)
            loop.call_later(period, tick, conn)

    spread = (period if paced else spec.get("stagger_s", 1.0)) / len(conns)
    for i, conn in enumerate(conns):
        loop.call_later(i * spread, tick if paced else start_run, conn)
    phases: list[dict[str, Any]] = []
    pooled = {agent: Phase(agent) for agent in frames}
    for k, agent in enumerate(spec["phases"]):
        state["frame"] = frames[agent]  # the next runs are this agent's
        await asyncio.sleep(spec["warmup_s"] if k == 0 else spec["transition_s"])
        marker(f"@start {k}")
        phase = state["phase"] = Phase(agent)
        t0 = time.perf_counter()
        await asyncio.sleep(spec["durations_s"][k])
        state["phase"] = None
        elapsed = time.perf_counter() - t0
        marker(f"@end {k}")
        phases.append(phase.report(elapsed))
        pooled[agent].emitted += phase.emitted
        pooled[agent].sent_delta += phase.sent_delta
        pooled[agent].sent_tool += phase.sent_tool
    state["running"] = False
    if state["in_flight"] > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained, spec.get("drain_timeout_s", 15.0))
    goodbye = mask_frame((1000).to_bytes(2, "big"), 0x8)
    for conn in conns:
        if not conn.closed:
            conn.send(goodbye)
            conn.transport.close()
    return {
        "phases": phases,
        "pooled": {agent: phase.report(0.0) for agent, phase in pooled.items()},
        **totals,
        "unfinished_at_end": state["in_flight"],
    }


def client(spec_path: str) -> None:
    import uvloop

    from benchmarks.loadclient import marker, raise_fd_limit

    with open(spec_path) as handle:
        spec = json.load(handle)
    raise_fd_limit()
    result = uvloop.run(asyncio.wait_for(client_main(spec), spec.get("hard_timeout_s", 600.0)))
    marker("@result " + json.dumps(result))


# -- the runner ------------------------------------------------------------------------------


class Endpoint:
    """The endpoint role in its own process, for the whole invocation."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "benchmarks.agui_bridge", "endpoint"],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError("the AG-UI endpoint did not start")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pin(pid: int, cpus: set[int]) -> None:
    """Put every thread of ``pid`` on ``cpus`` (the threads it starts later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), cpus)


class Runner:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        from netra_trio.auth import Authenticator

        self.args = args
        self.workdir = workdir
        self.secret = secrets.token_urlsafe(48)
        auth = Authenticator(secret=self.secret)
        self.tokens = [auth.issue(f"bench-u{i}", 3600) for i in range(args.users)]
        self.endpoint = Endpoint()

    def session(
        self, load: str, phases: list[tuple[str, int]], durations: list[float], profile: bool
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One server and one client for ``load``: the ``(agent, round)`` phases in turn,
        each measured for its duration. Returns a row per phase and the client's
        result (latency pooled by agent, errors); with ``profile``, py-spy's raw
        output of each phase is in ``workdir/profile-AGENT.txt``."""
        args = self.args
        spec = {
            "load": load,
            "users": args.users,
            "tokens": self.tokens,
            "input": {
                "steps": args.steps,
                "deltas": args.deltas,
                "interval_ms": args.interval_ms if load == "paced" else 0,
            },
            "period_s": args.period_s,
            "phases": [agent for agent, _ in phases],
            "durations_s": durations,
            "warmup_s": args.warmup_s,
            "transition_s": args.transition_s,
        }
        placement = PLACEMENTS[args.pin]
        cpus = placement[0] if placement is not None else None
        server = BridgeServer(self.workdir, self.secret, self.endpoint.url, cpus)
        spec["port"] = server.port
        spec_path = self.workdir / f"spec-{time.monotonic_ns()}.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.Popen(
            [PY, "-m", "benchmarks.agui_bridge", "client", str(spec_path)],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
        )
        limit = args.warmup_s + sum(durations) + len(phases) * (args.transition_s + 2) + 60
        watchdog = threading.Timer(limit, proc.kill)
        watchdog.start()
        pids = {"server": server.pid, "endpoint": self.endpoint.pid, "client": proc.pid}
        windows: list[dict[str, Any]] = []
        result: dict[str, Any] = {}
        start: procstat.Snapshot | None = None
        threads_at_start: dict[int, float] = {}
        spies: list[subprocess.Popen[bytes]] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("@start"):
                    start = procstat.Snapshot.take(list(pids.values()))
                    threads_at_start = procstat.thread_cpu_seconds(server.pid)
                    if profile:
                        agent = phases[len(windows)][0]
                        spy = start_py_spy(server.pid, self.workdir / f"profile-{agent}.txt")
                        spies += [spy] if spy is not None else []
                elif line.startswith("@end") and start is not None:
                    end = procstat.Snapshot.take(list(pids.values()))
                    threads = procstat.thread_cpu_seconds(server.pid)
                    used = {t: cpu - threads_at_start.get(t, 0.0) for t, cpu in threads.items()}
                    window: dict[str, Any] = {
                        "server_loop_cpu_s": round(used.get(server.pid, 0.0), 3),
                        "server_other_threads_cpu_s": round(
                            sum(cpu for t, cpu in used.items() if t != server.pid), 3
                        ),
                        "other_cpu_pct": procstat.other_percent(start, end),
                        "window_s": round(end.wall - start.wall, 3),
                    }
                    for name, pid in pids.items():
                        window[f"{name}_cpu_s"] = round(end.cpu[pid] - start.cpu[pid], 3)
                        window[f"{name}_cpu_pct"] = procstat.cpu_percent(start, end, pid)
                    windows.append(window)
                    for spy in spies:  # a profile covers one phase
                        spy.wait(timeout=PROFILE_SECONDS + 30)
                    spies.clear()
                elif line.startswith("@result "):
                    result = json.loads(line[len("@result ") :])
            proc.wait(timeout=30)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
            server.stop()
        if len(result.get("phases", [])) != len(phases) or len(windows) != len(phases):
            raise RuntimeError(f"{load}: the client gave no result; see {server.log_path}")
        rows = []
        for (agent, round_no), window, counted in zip(
            phases, windows, result["phases"], strict=True
        ):
            row = {"load": load, "round": round_no, **window, **counted}
            derive(row)
            rows.append(row)
            log(
                f"{load} round {round_no} {AGENT_LABELS[agent]}: {row['events_per_s']:,.0f}"
                f" events/s, {row['deltas_per_s']:,.0f} deltas/s, server"
                f" {row['server_cpu_pct']}% = {row['server_us_per_event']} us/event"
                f" ({row['server_ms_per_run']} ms/run), endpoint {row['endpoint_cpu_pct']}%,"
                f" client {row['client_cpu_pct']}%, other {row['other_cpu_pct']}%; p99:"
                f" emit->receipt {row['emit_to_receipt'].get('p99_ms')} ms, send->receipt"
                f" deltas {row['send_to_receipt_deltas'].get('p99_ms')} ms, tool results"
                f" {row['send_to_receipt_tool_results'].get('p99_ms')} ms;"
                f" {row['other_agent_events']} events of the other agent"
            )
        return rows, result


def derive(row: dict[str, Any]) -> None:
    """Rates and CPU per event and per run of a phase's row."""
    events, runs, seconds = row["events"], row["runs"], row["seconds"]

    def per(value: float, count: int, scale: float) -> float | None:
        return round(value * scale / count, 3) if count else None

    row.update(
        events_per_s=round(events / seconds, 1),
        deltas_per_s=round(row["deltas"] / seconds, 1),
        runs_per_s=round(runs / seconds, 1),
        events_per_run=round(events / max(runs, 1), 2),
        server_us_per_event=per(row["server_cpu_s"], events, 1e6),
        server_ms_per_run=per(row["server_cpu_s"], runs, 1e3),
        loop_ms_per_run=per(row["server_loop_cpu_s"], runs, 1e3),
        storage_ms_per_run=per(row["server_other_threads_cpu_s"], runs, 1e3),
        endpoint_us_per_event=per(row["endpoint_cpu_s"], events, 1e6),
    )


def start_py_spy(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(py_spy).exists():
        log("py-spy is not installed: no profile")
        return None
    return subprocess.Popen(
        [
            py_spy, "record", "--pid", str(pid), "--duration", str(PROFILE_SECONDS),
            "--rate", str(PROFILE_RATE), "--format", "raw",
            "--output", str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


# -- the report ------------------------------------------------------------------------------


def lat(row: dict[str, Any], key: str) -> str:
    p = row.get(key, {})
    if not p.get("samples"):
        return "-"
    return f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} / {p['max_ms']:.1f}"


def phases_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| load | round | agent | runs/s | events/s | deltas/s | events/run | server CPU"
        " | server us/event | server ms/run (event loop + other threads) | endpoint CPU"
        " | client CPU | other CPU"
        " | emit -> receipt p50 / p99 / max ms | send -> receipt, deltas | send -> receipt,"
        " tool results |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        stray = r["other_agent_events"]
        note = f" ({stray} events of the other agent)" if stray else ""
        out.append(
            f"| {r['load']} | {r['round']} | {AGENT_LABELS[r['agent']]}{note} |"
            f" {fmt(r['runs_per_s'], 1)} | {fmt(r['events_per_s'])} | {fmt(r['deltas_per_s'])} |"
            f" {fmt(r['events_per_run'], 1)} | {fmt(r['server_cpu_pct'])}% |"
            f" {fmt(r['server_us_per_event'])} | {fmt(r['server_ms_per_run'], 2)}"
            f" ({fmt(r.get('loop_ms_per_run'), 2)} + {fmt(r.get('storage_ms_per_run'), 2)}) |"
            f" {fmt(r['endpoint_cpu_pct'])}% | {fmt(r['client_cpu_pct'])}% |"
            f" {fmt(r['other_cpu_pct'])}% | {lat(r, 'emit_to_receipt')} |"
            f" {lat(r, 'send_to_receipt_deltas')} | {lat(r, 'send_to_receipt_tool_results')} |"
        )
    return "\n".join(out)


def pairs(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(bridge, in-process) of each load and round."""
    found = []
    for load in LOADS:
        rounds = sorted({r["round"] for r in rows if r["load"] == load})
        for n in rounds:
            mine = {r["agent"]: r for r in rows if r["load"] == load and r["round"] == n}
            if BRIDGE in mine and INPROC in mine:
                found.append((mine[BRIDGE], mine[INPROC]))
    return found


def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None and math.isfinite(v))
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def p99(row: dict[str, Any], key: str) -> float | None:
    value: float | None = row.get(key, {}).get("p99_ms")
    return value


def ratios_table(rows: list[dict[str, Any]]) -> tuple[str, dict[str, bool | None]]:
    """Bridge against in-process per load and round, and the medians over the rounds;
    whether the targets are met (on the medians)."""
    out = [
        "| load | round | server us/event: bridge / in-process (ratio) | server ms/run (ratio)"
        " | event loop ms/run (ratio) | events/run | p99 emit -> receipt: bridge - in-process"
        " | p99 send -> receipt, deltas | p99 send -> receipt, tool results |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    per_load: dict[str, dict[str, list[float]]] = {}

    def quotient(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    for b, i in pairs(rows):
        cpu_ratio = quotient(b["server_us_per_event"], i["server_us_per_event"])
        run_ratio = quotient(b["server_ms_per_run"], i["server_ms_per_run"])
        loop_ratio = quotient(b.get("loop_ms_per_run"), i.get("loop_ms_per_run"))
        diffs = {}
        for key in ("emit_to_receipt", "send_to_receipt_deltas", "send_to_receipt_tool_results"):
            pb, pi = p99(b, key), p99(i, key)
            diffs[key] = pb - pi if pb is not None and pi is not None else None
        acc = per_load.setdefault(b["load"], {})
        measured = (("cpu", cpu_ratio), ("run", run_ratio), ("loop", loop_ratio))
        for name, value in (*measured, *diffs.items()):
            if value is not None:
                acc.setdefault(name, []).append(value)
        out.append(
            f"| {b['load']} | {b['round']} | {fmt(b['server_us_per_event'])} /"
            f" {fmt(i['server_us_per_event'])} (**{fmt(cpu_ratio, 2)}x**) |"
            f" {fmt(b['server_ms_per_run'], 2)} / {fmt(i['server_ms_per_run'], 2)}"
            f" ({fmt(run_ratio, 2)}x) | {fmt(b.get('loop_ms_per_run'), 2)} /"
            f" {fmt(i.get('loop_ms_per_run'), 2)} ({fmt(loop_ratio, 2)}x) |"
            f" {fmt(b['events_per_run'], 1)} / {fmt(i['events_per_run'], 1)} |"
            f" {signed(diffs['emit_to_receipt'])} | {signed(diffs['send_to_receipt_deltas'])} |"
            f" **{signed(diffs['send_to_receipt_tool_results'])}** |"
        )
    met: dict[str, bool | None] = {}
    for load, acc in per_load.items():
        cpu, tool = median(acc.get("cpu", [])), median(acc.get("send_to_receipt_tool_results", []))
        deltas, emitted = (
            median(acc.get("send_to_receipt_deltas", [])),
            median(acc.get("emit_to_receipt", [])),
        )
        out.append(
            f"| {load} | median | **{fmt(cpu, 2)}x** | {fmt(median(acc.get('run', [])), 2)}x"
            f" | {fmt(median(acc.get('loop', [])), 2)}x | | {signed(emitted)} | {signed(deltas)}"
            f" | **{signed(tool)}** |"
        )
        met[f"{load}: server CPU per event <= {CPU_RATIO_TARGET:g}x in-process"] = (
            None if cpu is None else cpu <= CPU_RATIO_TARGET
        )
    return "\n".join(out), met


LATENCIES = (
    ("emit_to_receipt", "emit -> receipt"),
    ("send_to_receipt_deltas", "send -> receipt, deltas"),
    ("send_to_receipt_tool_results", "send -> receipt, tool results"),
)


def latency_table(pooled: dict[str, dict[str, Any]]) -> tuple[str, dict[str, bool | None]]:
    """Each agent's latency over all its phases of a load, and the bridge's p99 minus
    the in-process agent's; the target is checked on the paced load."""
    out = [
        "| load | latency (all rounds) | bridge p50 / p99 / max ms | in-process p50 / p99 / max"
        " ms | p99 added by the bridge | samples (bridge, in-process) |",
        "|---|---|---|---|---|---|",
    ]
    met: dict[str, bool | None] = {}
    for load, result in pooled.items():
        b, i = result["pooled"].get(BRIDGE, {}), result["pooled"].get(INPROC, {})
        added: list[float] = []
        for key, label in LATENCIES:
            pb, pi = p99(b, key), p99(i, key)
            diff = pb - pi if pb is not None and pi is not None else None
            if diff is not None:
                added.append(diff)
            out.append(
                f"| {load} | {label} | {lat(b, key)} | {lat(i, key)} | **{signed(diff)}** |"
                f" {fmt(b.get(key, {}).get('samples'))}, {fmt(i.get(key, {}).get('samples'))} |"
            )
        if load == "paced":
            met[f"{load}: p99 added <= {P99_ADDED_TARGET_MS:g} ms (all rounds)"] = (
                max(added) <= P99_ADDED_TARGET_MS if added else None
            )
    return "\n".join(out), met


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} ms"


# Where a sample was, by its innermost frame (py-spy attributes a syscall to the Python
# frame that made it; frames read ``func (package/file.py:line)``): the first match wins.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLite and the storage thread", ("(netra_trio/storage/", "sqlite3")),
    ("epoll: (un)registering, its syscalls", ("(trio/_core/_io_epoll.py", "_generated_io_epoll")),
    ("socket syscalls (send, recv, connect, close)", ("(trio/_socket.py", "(socket.py")),
    ("httpx", ("(httpx/",)),
    ("httpcore", ("(httpcore/",)),
    ("h11", ("(h11/",)),
    ("httpx-sse", ("(httpx_sse/",)),
    ("anyio", ("(anyio/",)),
    ("ssl", ("(ssl.py",)),
    ("netra_trio/agui", ("(netra_trio/agui/",)),
    ("the in-process agent (benchmarks/agui_bridge.py)", ("(benchmarks/agui_bridge.py",)),
    ("netra_trio, the rest", ("(netra_trio/",)),
    ("trio: scheduler, cancel scopes, sync", ("(trio/", "(outcome/", " trio._core.")),
    ("wsproto", ("(wsproto/",)),
)
# What a sample was doing for the agent: the innermost frame of the stack that matches.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("`ctx.emit` (`RunEmitter`)", ("(netra_trio/server/emitter.py",)),
    ("mapping: `EventMapper.feed`", ("EventMapper.feed (",)),
    (
        "reading events: `EventStream.next_event` (h11, httpx-sse's decoders, orjson)",
        ("EventStream.next_event (",),
    ),
    ("the request: `open_events` (connect, POST, head; closing)", ("open_events (",)),
    ("the agent's own code", ("AguiAgent.__call__ (", "AguiAgent._apply (", "inproc_agent (")),
)
OUTSIDE = "outside the agent's task: WebSocket connections, event log, storage, scheduler"
# Samples of a thread that waits (py-spy's blocking mode counts them): the storage
# thread in its queue's get, the event loop in epoll_wait.
IDLE_LEAVES = ("SerialWorker._work (", "EpollIOManager.get_events (")


def profile_counts(path: Path) -> dict[str, Any]:
    """Samples of py-spy's raw output, waits left out, by :data:`AREAS` (innermost
    frame) and by :data:`PARTS`."""
    areas: dict[str, int] = {}
    parts: dict[str, int] = {}
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1]
        if leaf.startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        area = next((a for a, needles in AREAS if any(n in leaf for n in needles)), "other")
        areas[area] = areas.get(area, 0) + count
        part = OUTSIDE
        for frame in reversed(frames):
            found = next(
                (name for name, needles in PARTS if any(n in frame for n in needles)), None
            )
            if found is not None:
                part = found
                break
        parts[part] = parts.get(part, 0) + count
    return {"samples": total, "idle_samples": idle, "areas": areas, "parts": parts}


def profile_tables(profiles: dict[str, dict[str, Any]]) -> str:
    """The server's CPU per run by area and by part, bridge against in-process: each
    share of the samples times the CPU per run measured (``/proc``) in the same phase."""
    bridge, inproc = profiles.get(BRIDGE), profiles.get(INPROC)
    if bridge is None or inproc is None:
        return ""

    def ms(profile: dict[str, Any], samples: int) -> float:
        return float(profile["server_ms_per_run"]) * samples / max(profile["samples"], 1)

    out = [
        f"py-spy `record --rate {PROFILE_RATE}` (blocking: whole stacks), {PROFILE_SECONDS} s"
        f" of a paced phase of each agent (on a server of their own): bridge"
        f" {bridge['samples']:,} samples"
        f" ({bridge['server_ms_per_run']:.2f} ms of server CPU per run in that phase),"
        f" in-process {inproc['samples']:,} ({inproc['server_ms_per_run']:.2f} ms); samples of"
        " a waiting thread (the storage thread in its queue, the event loop in epoll_wait) left"
        " out; ms/run = the share of the samples x the phase's CPU per run.",
        "",
        "| where (innermost frame) | bridge ms/run | in-process ms/run | difference |",
        "|---|---|---|---|",
    ]
    rows = []
    for name in [a for a, _ in AREAS] + ["other"]:
        b, i = ms(bridge, bridge["areas"].get(name, 0)), ms(inproc, inproc["areas"].get(name, 0))
        if b >= 0.005 or i >= 0.005:
            rows.append((b - i, f"| {name} | {b:.2f} | {i:.2f} | {b - i:+.2f} |"))
    out += [row for _, row in sorted(rows, key=lambda r: -r[0])]
    b, i = bridge["server_ms_per_run"], inproc["server_ms_per_run"]
    out.append(f"| **all** | **{b:.2f}** | **{i:.2f}** | **{b - i:+.2f}** |")
    out += ["", "| what for (innermost frame of the stack that matches) | bridge ms/run |"]
    out[-1] += " in-process ms/run | difference |"
    out.append("|---|---|---|---|")
    for name in [p for p, _ in PARTS] + [OUTSIDE]:
        b, i = ms(bridge, bridge["parts"].get(name, 0)), ms(inproc, inproc["parts"].get(name, 0))
        out.append(f"| {name} | {b:.2f} | {i:.2f} | {b - i:+.2f} |")
    own = sum(bridge["parts"].get(name, 0) for name, _ in PARTS[1:4])
    share = own / max(bridge["samples"], 1)
    out += [
        "",
        f"The bridge's own parts (mapping, reading events, the request) are {100 * share:.0f} %"
        f" of the bridge phase's samples: with the rest of its run costing what the"
        f" in-process agent's does, the bridge would cost {1 / (1 - share):.2f}x its CPU per"
        " run (a figure from one profile, so free of the drift between phases).",
    ]
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.agui_bridge", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of shorter phases")
    parser.add_argument("--rounds", type=int, help="rounds of (bridge, in-process); default 8")
    parser.add_argument("--loads", default=",".join(LOADS), help="paced,saturated")
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--deltas", type=int, default=DELTAS)
    parser.add_argument("--interval-ms", type=float, default=INTERVAL_MS)
    parser.add_argument("--period-s", type=float, default=PERIOD_S)
    parser.add_argument("--warmup-s", type=float, default=2.0, help="before the first phase")
    parser.add_argument(
        "--transition-s", type=float, default=1.5, help="before each next phase, not measured"
    )
    parser.add_argument("--duration-s", type=float, help="each phase's measured window")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on a paced phase of each agent"
    )
    parser.add_argument("--json", type=Path, help="write every phase's figures here")
    parser.add_argument(
        "--pin",
        choices=PLACEMENTS,
        default="one",
        help="one: everything on CPU 0 (default); split: the server on CPU 0, the rest on"
        " CPU 1; none: wherever the kernel puts them",
    )
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        args.pin = "none"
    args.rounds = args.rounds or (2 if args.quick else 8)
    args.duration_s = args.duration_s or (3.0 if args.quick else 4.0)
    return args


def run(argv: list[str]) -> None:
    args = parse_args(argv)
    loads = [load for load in args.loads.split(",") if load]
    started = time.time()
    rows: list[dict[str, Any]] = []
    profiles: dict[str, dict[str, Any]] = {}
    pooled: dict[str, dict[str, Any]] = {}
    placement = PLACEMENTS[args.pin]
    if placement is not None:  # the runner's children (endpoint, clients, py-spy) inherit it
        os.sched_setaffinity(0, placement[1])
    with tempfile.TemporaryDirectory(prefix="netra-agui-") as tmp:
        runner = Runner(args, Path(tmp))
        try:
            for load in loads:
                # ABBA: the bridge first in odd rounds, second in even ones, so that a
                # drift of the machine's speed does not favour either
                phases = [
                    (agent, n)
                    for n in range(1, args.rounds + 1)
                    for agent in ((BRIDGE, INPROC) if n % 2 else (INPROC, BRIDGE))
                ]
                found, result = runner.session(
                    load, phases, [args.duration_s] * len(phases), profile=False
                )
                rows += found
                pooled[load] = result
            if args.profile:
                phases = [(BRIDGE, 0), (INPROC, 0)]
                found, _ = runner.session(
                    "paced", phases, [PROFILE_SECONDS + 1.0] * 2, profile=True
                )
                for row in found:
                    raw = Path(tmp) / f"profile-{row['agent']}.txt"
                    if raw.exists():
                        profiles[row["agent"]] = {
                            **profile_counts(raw),
                            "server_ms_per_run": row["server_ms_per_run"],
                        }
                        if args.json is not None:
                            shutil.copy(raw, args.json.with_suffix(f".{row['agent']}.pyspy.txt"))
        finally:
            runner.endpoint.stop()
    elapsed = time.time() - started
    info = procstat.machine()
    print(
        f"agui bridge: {args.users} users, runs of {args.steps} x (tool call + text message of"
        f" {args.deltas} deltas); paced: a run per user every {args.period_s:g} s, events"
        f" {args.interval_ms:g} ms apart; saturated: runs back to back, events at once;"
        f" per load one server, {args.rounds} rounds of a phase of each agent ({args.warmup_s:g} s"
        f" warm-up, then per phase {args.transition_s:g} s of transition and"
        f" {args.duration_s:g} s measured);"
        f" {info['cpu']}, {info['cores']} cores;"
        f" placement {args.pin};"
        f" took {elapsed:.0f} s\n"
    )
    for load, result in pooled.items():
        print(
            f"{load}: {result['errors']} error frames, {result['agent_errors']} agent_error"
            f" events, {result['unfinished_at_end']} runs unfinished at the end"
        )
    print()
    print(phases_table(rows))
    table, met = ratios_table(rows)
    print("\n" + table)
    table, latency_met = latency_table(pooled)
    print("\n" + table)
    met.update(latency_met)
    if profiles:
        print("\n" + profile_tables(profiles))
    print()
    for target, ok in met.items():
        print(f"agui-bridge: {target}: {'-' if ok is None else 'yes' if ok else 'no'}")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"rows": rows, "pooled": pooled, "profiles": profiles}, indent=1)
        )


def main() -> None:
    argv = sys.argv[1:]
    role = argv[0] if argv else ""
    if role == "serve":
        serve(argv[1:])
    elif role == "endpoint":
        endpoint()
    elif role == "client":
        client(argv[1])
    else:
        run(argv)


if __name__ == "__main__":
    main()
