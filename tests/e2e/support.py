"""E2E helpers: connecting, probing liveness, and observing closes and rejections."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
)

from netra_trio.client import NetraClient, open_client
from netra_trio.client import open_websocket as websocket
from netra_trio.logs import JsonFormatter
from netra_trio.server.app import Server
from tests.helpers import token_for

WAIT_S = 10.0
"""Upper bound on any single wait in this tier."""

QUIET_S = 0.3
"""How long to listen for a frame that must not come, after a ping round trip flushed the queue."""

Frame = dict[str, Any]

_ids = itertools.count(1)


def next_id(prefix: str = "c") -> str:
    """A message_id that is unique within the test run."""
    return f"{prefix}-{next(_ids)}"


@asynccontextmanager
async def connect(
    server: Server,
    user: str,
    *,
    query: str = "",
    unbatch: bool = True,
    use_subprotocol: bool = False,
) -> AsyncIterator[NetraClient]:
    """A ``NetraClient`` of ``user``, past ``connection_established`` (what
    ``open_client`` does, over :func:`websocket`).

    Opening (handshake and first frame) is bounded by ``WAIT_S``; the body is not."""
    url = server.url + (f"?{query}" if query else "")
    token = token_for(user)
    async with open_client(
        url, token, use_subprotocol=use_subprotocol, unbatch=unbatch, connect_timeout_s=WAIT_S
    ) as client:
        yield client


async def assert_alive(client: NetraClient) -> None:
    """A ping round trip: proves the connection is open and served."""
    message_id = next_id("alive")
    marker = {"probe": message_id}
    with trio.fail_after(WAIT_S):
        reply = await client.request("ping", marker, message_id=message_id)
    assert reply["type"] == "pong", reply
    assert reply["payload"]["probe"] == message_id
    assert isinstance(reply["payload"]["server_time"], float)


async def frames_before_probe(client: NetraClient) -> list[Frame]:
    """Send a probe ping; return every frame that arrives before its pong."""
    message_id = next_id("probe")
    await client.send("ping", {"probe": message_id}, message_id=message_id)
    frames: list[Frame] = []
    with trio.fail_after(WAIT_S):
        while True:
            frame = await client.receive()
            if frame["type"] == "pong" and frame.get("correlation_id") == message_id:
                return frames
            frames.append(frame)


async def frames_until_closed(client: NetraClient) -> tuple[int, list[Frame]]:
    """Every frame until the server closes the connection, and the close code."""
    frames: list[Frame] = []
    with trio.fail_after(WAIT_S):
        while True:
            try:
                frames.append(await client.receive())
            except ConnectionClosed as exc:
                assert exc.reason is not None
                return exc.reason.code, frames


async def close_code(client: NetraClient) -> int:
    code, _ = await frames_until_closed(client)
    return code


async def frames_within(client: NetraClient, seconds: float) -> list[Frame]:
    """Whatever arrives within ``seconds``."""
    frames: list[Frame] = []
    with trio.move_on_after(seconds):
        while True:
            frames.append(await client.receive())
    return frames


async def quiet_frames(client: NetraClient) -> list[Frame]:
    """Every frame that arrives before a probe's pong, or within ``QUIET_S`` after it."""
    before = await frames_before_probe(client)
    return before + await frames_within(client, QUIET_S)


async def handshake(
    url: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    subprotocols: Sequence[str] = (),
    while_open: Callable[[WebSocketConnection], Awaitable[None]] | None = None,
) -> ConnectionRejected | None:
    """Attempt one handshake. Rejected: return the rejection. Accepted: run
    ``while_open`` on the WebSocket, close it, and return None."""
    try:
        async with websocket(url, headers=headers, subprotocols=subprotocols) as ws:
            if while_open is not None:
                await while_open(ws)
    except ConnectionRejected as rejected:
        return rejected
    return None


async def rejection(
    url: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    subprotocols: Sequence[str] = (),
) -> ConnectionRejected:
    """The HTTP rejection of a handshake that must not open a WebSocket."""
    with trio.fail_after(WAIT_S):
        rejected = await handshake(url, headers=headers, subprotocols=subprotocols)
    if rejected is None:
        pytest.fail(f"the handshake to {url} was accepted")
    return rejected


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Bearer {token}".encode())]


def error_body(rejected: ConnectionRejected, status: int, code: str) -> dict[str, Any]:
    """Check status and JSON body of a handshake rejection; return the error object."""
    assert rejected.status_code == status
    assert rejected.body is not None
    body = orjson.loads(rejected.body)
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"]
    content_type = dict((k.lower(), v) for k, v in rejected.headers).get(b"content-type", b"")
    assert content_type.startswith(b"application/json")
    return error


def rendered_logs(records: Sequence[logging.LogRecord]) -> str:
    """Every captured record with all its structured fields, as the JSON log would show it."""
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in records)


def events(records: Sequence[logging.LogRecord], name: str) -> list[dict[str, Any]]:
    """The structured fields of the captured records of one log event."""
    return [
        dict(getattr(r, "netra_fields", {}))
        for r in records
        if getattr(r, "netra_event", None) == name
    ]


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Poll server state (which changes a moment after the client sees a close)."""
    with trio.move_on_after(WAIT_S):
        while not predicate():  # noqa: ASYNC110 - polls another component's state, no event to wait on
            await trio.sleep(0.01)
        return
    pytest.fail(f"not within {WAIT_S} s: {what}")


async def wait_until_user_gone(server: Server, user: str) -> None:
    """Poll until the hub holds no entry for ``user``."""
    await eventually(lambda: user not in server.hub.users, f"{user!r} left server.hub.users")


def ping_frame_of_bytes(size: int, fill: str, message_id: str) -> str:
    """A ping frame whose UTF-8 encoding is exactly ``size`` bytes, padded with ``fill``."""
    empty = orjson.dumps({"type": "ping", "message_id": message_id, "payload": {"pad": ""}})
    need = size - len(empty)
    step = len(fill.encode())
    assert need >= 0
    pad = "a" * (need % step) + fill * (need // step)
    text = orjson.dumps(
        {"type": "ping", "message_id": message_id, "payload": {"pad": pad}}
    ).decode()
    assert len(text.encode()) == size
    return text
