"""Baseline: a bare trio-websocket server (``serve_websocket`` with its
defaults). Echo, or push on command (see :mod:`benchmarks.baseline_common`);
idle connections just wait in ``get_message``. No auth, no storage, no
priorities, no heartbeat of its own.

``python -m benchmarks.baseline_trio_websocket`` prints ``listening PORT``.
"""

from __future__ import annotations

import contextlib
import sys

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from benchmarks.baseline_common import is_push, push_frames, raise_fd_limit


async def handler(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            message = await ws.get_message()
            if isinstance(message, str) and is_push(message):
                for text in push_frames(message):
                    await ws.send_message(text)
            else:
                await ws.send_message(message)
    except ConnectionClosed:
        pass


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        print(f"listening {server.port}", flush=True)


if __name__ == "__main__":
    print(f"fd_limit {raise_fd_limit()}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)
