"""Baseline: the ``websockets`` asyncio server (its current implementation,
``websockets.asyncio.server.serve``), on uvloop when installed, with
compression off (the load client never offers it). Echo, or push on command
(see :mod:`benchmarks.baseline_common`).

``python -m benchmarks.baseline_websockets`` prints ``listening PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from benchmarks.baseline_common import is_push, push_frames, raise_fd_limit


async def handler(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            if isinstance(message, str) and is_push(message):
                for text in push_frames(message):
                    await ws.send(text)
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass


async def main() -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=2**20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await stop


if __name__ == "__main__":
    print(f"fd_limit {raise_fd_limit()}", file=sys.stderr, flush=True)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
