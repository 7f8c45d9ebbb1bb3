"""A client that stops reading: bounded server memory, 4008, then nothing lost on resume."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from netra_trio.agents.base import Agent, AgentResult, RunContext
from netra_trio.agents.registry import default_agents
from netra_trio.client import open_client
from netra_trio.errors import CloseCode
from netra_trio.server.app import Server
from tests.helpers import make_config, token_for

EVENTS_PER_RUN = 2500
THOUGHT = "x" * 4000  # ~4 KiB per event: 3 runs stream ~30 MiB
# The runs stay at most this many events ahead of the healthy client (whatever
# the speed of the process): well within its queue's bounds (256 frames,
# 512 KiB), so only the client that stops reading can fall behind.
AHEAD = 64


def _chatty(ahead: trio.Semaphore) -> Agent:
    async def agent(ctx: RunContext) -> AgentResult:
        for _ in range(EVENTS_PER_RUN):
            await ahead.acquire()  # given back as the healthy client reads
            await ctx.emit.thinking("chatty", THOUGHT)
        return AgentResult(result={"events": EVENTS_PER_RUN}, report="done")

    return agent


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _stalled_client(url_port: int, token: str) -> tuple[trio.SocketStream, WSConnection, int]:
    """Handshake, read connection_established and the first event, then stop reading."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", url_port))
    stream = trio.SocketStream(sock)
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(
        ws.send(
            Request(
                host="t",
                target="/ws",
                extra_headers=[(b"authorization", f"Bearer {token}".encode())],
            )
        )
    )
    frames: list[dict[str, object]] = []
    accepted, parts = False, ""
    with trio.fail_after(10):
        while not any("seq" in f for f in frames):
            ws.receive_data(await stream.receive_some(4096))
            for event in ws.events():
                accepted = accepted or isinstance(event, AcceptConnection)
                if isinstance(event, TextMessage):  # may come in parts
                    parts += event.data
                    if event.message_finished:
                        frames.append(orjson.loads(parts))
                        parts = ""
    assert accepted
    return stream, ws, next(f["seq"] for f in frames if "seq" in f)  # type: ignore[misc]


async def test_a_client_that_stops_reading_loses_nothing(tmp_path: Path) -> None:
    ahead = trio.Semaphore(AHEAD)
    agents = default_agents()
    agents.register("chatty", _chatty(ahead))
    config = make_config(
        database=str(tmp_path / "netra.db"),
        queue_max_frames=256,
        queue_max_bytes=512 * 1024,
        user_backlog_max_bytes=4 * 1024 * 1024,
    )
    server = Server(config, agents=agents)
    token = token_for("alice")
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        async with open_client(server.url, token) as driver:
            runs_done = trio.Event()

            async def drive() -> None:
                ended = 0
                while ended < 3:  # this client keeps reading, as a healthy one does
                    frame = await driver.receive()
                    if frame["type"] == "agent_thinking":
                        ahead.release()
                    ended += frame["type"] in ("agent_completed", "agent_error")
                runs_done.set()

            for _ in range(3):
                await driver.send("start_agent", {"agent": "chatty", "input": "go"})
            nursery.start_soon(drive)
            stream, _, last_seen = await _stalled_client(server.port, token)
            baseline = peak = _rss_kib()
            with trio.fail_after(60):
                while not runs_done.is_set():
                    peak = max(peak, _rss_kib())
                    await trio.sleep(0.02)
            await stream.aclose()
        assert server.hub.stats.closes_by_code[CloseCode.SLOW_CONSUMER] == 1
        streamed_kib = 3 * EVENTS_PER_RUN * len(THOUGHT) // 1024
        assert peak - baseline < streamed_kib // 2, (peak - baseline, streamed_kib)
        async with open_client(server.url, token) as again:
            await again.send("resume", {"last_seq": last_seen})
            seqs: list[int] = []
            with trio.fail_after(60):
                while True:
                    frame = await again.receive()
                    if frame["type"] == "resume_complete":
                        break
                    seqs.append(frame["seq"])
        last = (await server.hub.services.storage.events.replay_window("alice")).last_seq
        assert seqs == list(range(last_seen + 1, last + 1))  # every event once, in order
        assert frame["payload"] == {"replayed": len(seqs), "gap": False}
        server.request_shutdown()
