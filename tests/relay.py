"""A TCP relay on loopback that can freeze the connections it carries: a
frozen connection forwards nothing and closes nothing, as a network that
stopped delivering does; connections made after a freeze pass, and a thaw
lets the frozen ones go on."""

from __future__ import annotations

import trio


class Relay:
    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._carried: list[trio.Event] = []  # set: flowing
        self._outgoing_ports: list[int] = []  # of each connection's side towards the target
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def freeze(self) -> None:
        """Stop the connections carried now (until a thaw, or the relay ends)."""
        self._carried = [trio.Event() for _ in self._carried]

    def freeze_one(self, outgoing_port: int) -> None:
        """Stop the connection whose side towards the target has the local
        ``outgoing_port`` (the port the target sees it come from)."""
        self._carried[self._outgoing_ports.index(outgoing_port)] = trio.Event()

    def thaw(self) -> None:
        """Let every frozen connection go on."""
        for flowing in self._carried:
            flowing.set()

    async def serve(self, task_status: trio.TaskStatus[Relay]) -> None:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listener.socket.getsockname()[1]
        async with trio.open_nursery() as nursery, listener:
            task_status.started(self)
            while True:
                client = await listener.accept()
                nursery.start_soon(self._carry, client)

    async def _carry(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream("127.0.0.1", self._target_port)
        except OSError:  # the target is down: so is this connection
            await client.aclose()
            return
        index = len(self._carried)
        flowing = trio.Event()
        flowing.set()
        self._carried.append(flowing)
        self._outgoing_ports.append(server.socket.getsockname()[1])
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server, index, nursery.cancel_scope)
            nursery.start_soon(self._pump, server, client, index, nursery.cancel_scope)

    async def _pump(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        index: int,
        done: trio.CancelScope,
    ) -> None:
        try:
            while data := await source.receive_some(65536):
                await self._carried[index].wait()
                await sink.send_all(data)
        except trio.BrokenResourceError:
            pass
        done.cancel()
