"""One port for several processes (``--workers``): sockets bound with
SO_REUSEPORT, so the kernel spreads new connections over the processes that
listen on it."""

from __future__ import annotations

import socket

import trio

from netra_trio.errors import StartupError

_BACKLOG = 0xFFFF  # what trio.open_tcp_listeners asks for; the kernel caps it at somaxconn


async def reserve_port(host: str, port: int) -> trio.socket.SocketType:
    """A socket bound to ``host:port`` (its first address) with SO_REUSEPORT
    that never listens: it keeps the port (with 0, the one the kernel picked)
    for the workers, which bind it too."""
    try:
        addresses = await trio.socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = addresses[0]
        sock = trio.socket.socket(family, kind, proto)
        try:
            _reuse_port(sock)
            await sock.bind(address)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


async def reuse_port_listeners(port: int, host: str) -> list[trio.SocketListener]:
    """What ``trio.open_tcp_listeners(port, host=host)`` opens, with every
    socket bound with SO_REUSEPORT: a worker's listeners, sharing the port."""
    addresses = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listeners: list[trio.SocketListener] = []
    try:
        for family, kind, proto, _, address in addresses:
            sock = trio.socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                _reuse_port(sock)
                await sock.bind(address)
                sock.listen(_BACKLOG)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    return listeners


def _reuse_port(sock: trio.socket.SocketType) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
