"""Baseline: a FastAPI WebSocket app on uvicorn (uvloop, httptools, uvicorn's
``websockets`` protocol), one worker, access log off.

Echo and push as every baseline (:mod:`benchmarks.baseline_common`). For the
``agents`` scenario it does the same work as netra-trio, the way one would
write it in FastAPI: on ``agent_request`` it creates a thread, stores the
user's message, records the run, reads the thread's history, runs the *same*
``supervisor`` agent code (netra-trio's agents are plain async functions that
need no trio), and stores every event in SQLite (group commit on one writer
thread, as netra-trio does) before sending it; then stores the assistant's
message and finishes the run. What it lacks: priorities, fan-out to a user's
other connections, limits, and auth (the token is read, not verified).

``python -m benchmarks.baseline_fastapi --database PATH`` prints ``listening PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import socket
import sqlite3
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from benchmarks.baseline_common import is_push, push_frames, raise_fd_limit

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (thread_id TEXT PRIMARY KEY, user_id TEXT, title TEXT,
    created_at REAL, updated_at REAL);
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT,
    thread_id TEXT, role TEXT, content TEXT, run_id TEXT, created_at REAL);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages (thread_id, id);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, user_id TEXT, thread_id TEXT,
    agent TEXT, status TEXT, started_at REAL, ended_at REAL);
CREATE TABLE IF NOT EXISTS user_seq (user_id TEXT PRIMARY KEY, last_seq INTEGER);
CREATE TABLE IF NOT EXISTS events (user_id TEXT, seq INTEGER, type TEXT, run_id TEXT,
    thread_id TEXT, frame TEXT, created_at REAL, PRIMARY KEY (user_id, seq)) WITHOUT ROWID;
"""


class Store:
    """SQLite on one worker thread; events are group-committed by one writer task."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.executescript(SCHEMA)
        self.executor = ThreadPoolExecutor(1)
        self.pending: list[tuple[str, str, str, str, Any, asyncio.Future[str]]] = []
        self.wake = asyncio.Event()
        self.writer_task: asyncio.Task[None] | None = None

    async def call(self, sql: str, args: tuple[Any, ...], fetch: bool = False) -> Any:
        def work() -> Any:
            if fetch:
                return self.db.execute(sql, args).fetchall()
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(sql, args)
            self.db.execute("COMMIT")
            return None

        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    async def append_event(
        self, user: str, kind: str, run_id: str, thread_id: str, make_frame: Any
    ) -> str:
        if self.writer_task is None:
            self.writer_task = asyncio.get_running_loop().create_task(self.writer())
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending.append((user, kind, run_id, thread_id, make_frame, future))
        self.wake.set()
        return await future

    def _insert(self, batch: list[tuple[str, str, str, str, Any, Any]]) -> list[str]:
        frames = []
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        for user, kind, run_id, thread_id, make_frame, _ in batch:
            (seq,) = self.db.execute(
                "INSERT INTO user_seq VALUES (?, 1) ON CONFLICT (user_id)"
                " DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
                (user,),
            ).fetchone()
            frame = make_frame(seq)
            self.db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user, seq, kind, run_id, thread_id, frame, now),
            )
            frames.append(frame)
        self.db.execute("COMMIT")
        return frames

    async def writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending[:1024], self.pending[1024:]
            if self.pending:
                self.wake.set()
            if not batch:
                continue
            frames = await loop.run_in_executor(self.executor, self._insert, batch)
            for item, frame in zip(batch, frames, strict=True):
                item[5].set_result(frame)


class Emitter:
    """netra-trio's ``Emitter`` protocol: store each event, then send it."""

    def __init__(self, store: Store, ws: WebSocket, user: str, run_id: str, thread_id: str):
        self.store, self.ws, self.user = store, ws, user
        self.run_id, self.thread_id = run_id, thread_id
        self.steps: dict[str, int] = {}

    async def emit(self, kind: str, payload: dict[str, Any]) -> None:
        emitted = time.time()  # as in netra-trio: the event's time is when it was emitted

        def make_frame(seq: int) -> str:
            return orjson.dumps(
                {
                    "type": kind,
                    "payload": payload,
                    "message_id": f"s-{uuid.uuid4().hex[:12]}",
                    "thread_id": self.thread_id,
                    "run_id": self.run_id,
                    "seq": seq,
                    "timestamp": emitted,
                }
            ).decode()

        frame = await self.store.append_event(
            self.user, kind, self.run_id, self.thread_id, make_frame
        )
        await self.ws.send_text(frame)

    async def thinking(self, agent_name: str, thought: str) -> None:
        step = self.steps[agent_name] = self.steps.get(agent_name, 0) + 1
        await self.emit(
            "agent_thinking", {"agent_name": agent_name, "thought": thought, "step": step}
        )

    async def stream_thinking(self, agent_name: str, produce: Any) -> str:
        async def on_delta(piece: str) -> None:
            return None

        text: str = await produce(on_delta)
        await self.thinking(agent_name, text)
        return text

    async def tool_call(
        self, agent_name: str, tool_name: str, arguments: dict[str, Any], fn: Any
    ) -> Any:
        from netra_trio.agents.base import ToolOutcome
        from netra_trio.protocol.converter import CONVERTER

        call_id = f"tc-{uuid.uuid4().hex[:12]}"
        base = {"agent_name": agent_name, "tool_name": tool_name, "tool_call_id": call_id}
        await self.emit("tool_executing", {**base, "arguments": arguments})
        started = time.perf_counter()
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
            outcome = ToolOutcome("success", CONVERTER.unstructure(value), value)
        except Exception as exc:
            outcome = ToolOutcome("error", {"error": f"{type(exc).__name__}: {exc}"})
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        await self.emit(
            "tool_completed",
            {
                **base,
                "status": outcome.status,
                "result": outcome.result,
                "duration_ms": duration_ms,
            },
        )
        return outcome


async def run_agent(store: Store, ws: WebSocket, user: str, frame: dict[str, Any]) -> None:
    from netra_trio.agents.base import RunContext
    from netra_trio.agents.supervisor import supervisor_agent
    from netra_trio.protocol.converter import CONVERTER

    payload = frame.get("payload", {})
    content = str(payload.get("content", ""))
    now = time.time()
    thread_id, run_id = f"t-{uuid.uuid4().hex[:16]}", f"r-{uuid.uuid4().hex[:16]}"
    await store.call(
        "INSERT INTO threads VALUES (?, ?, ?, ?, ?)", (thread_id, user, content[:60], now, now)
    )
    await store.call(
        "INSERT INTO messages (message_id, thread_id, role, content, run_id, created_at)"
        " VALUES (?, ?, 'user', ?, NULL, ?)",
        (uuid.uuid4().hex, thread_id, content, now),
    )
    await store.call(
        "INSERT INTO runs VALUES (?, ?, ?, 'supervisor', 'running', ?, NULL)",
        (run_id, user, thread_id, now),
    )
    emitter = Emitter(store, ws, user, run_id, thread_id)
    started = time.perf_counter()
    await emitter.emit(
        "agent_started", {"agent_name": "supervisor", "input_preview": content[:200]}
    )
    await store.call(
        "SELECT role, content FROM messages WHERE thread_id = ? ORDER BY id LIMIT 50",
        (thread_id,),
        fetch=True,
    )
    ctx = RunContext(
        user_id=user,
        thread_id=thread_id,
        run_id=run_id,
        agent_name="supervisor",
        input=content,
        options={"require_multi_agent": bool(payload.get("require_multi_agent", False))},
        history=(),
        emit=emitter,
    )
    outcome = await supervisor_agent(ctx)
    await store.call(
        "INSERT INTO messages (message_id, thread_id, role, content, run_id, created_at)"
        " VALUES (?, ?, 'assistant', ?, ?, ?)",
        (uuid.uuid4().hex, thread_id, outcome.report, run_id, time.time()),
    )
    await emitter.emit(
        "agent_completed",
        {
            "agent_name": "supervisor",
            "status": "success",
            "result": CONVERTER.unstructure(outcome.result),
            "agents_involved": list(outcome.agents_involved),
            "orchestration_time_s": round(time.perf_counter() - started, 6),
        },
    )
    await store.call(
        "UPDATE runs SET status = 'success', ended_at = ? WHERE run_id = ?", (time.time(), run_id)
    )


def make_app(database: str) -> FastAPI:
    app = FastAPI()
    store = Store(database)
    tasks: set[asyncio.Task[None]] = set()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        auth = websocket.headers.get("authorization", "")
        user = auth[-16:] or "anonymous"  # a per-connection key; tokens are not verified
        await websocket.accept()
        try:
            while True:
                text = await websocket.receive_text()
                if is_push(text):
                    for frame in push_frames(text):
                        await websocket.send_text(frame)
                elif text.startswith('{"type":"agent_request"'):
                    task = asyncio.get_running_loop().create_task(
                        run_agent(store, websocket, user, orjson.loads(text))
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                else:
                    await websocket.send_text(text)
        except WebSocketDisconnect:
            pass

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    print(f"fd_limit {raise_fd_limit()}", file=sys.stderr, flush=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    config = uvicorn.Config(
        make_app(args.database),
        loop="uvloop",
        http="httptools",
        ws="websockets",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
