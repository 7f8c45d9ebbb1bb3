"""The health and metrics listener, on its own port (``--metrics-port``).

``GET /healthz`` answers 200 with a small JSON status while the server accepts
connections and 503 once it is shutting down; ``GET /readyz`` answers 200 when
the server accepts handshakes and its storage (and Redis, in a cluster) answer,
503 otherwise, with what is not ready; ``GET /metrics`` answers the Prometheus
text format. One request per connection, every read bounded.
"""

from __future__ import annotations

import h11
import orjson
import trio
from prometheus_client import CONTENT_TYPE_LATEST

from netra_trio.cluster.health import ServiceUnavailable
from netra_trio.server.hub import Hub
from netra_trio.server.metrics import exposition
from netra_trio.storage.base import StorageError

_REQUEST_TIMEOUT_S = 5.0
_CHECK_S = 2.0  # for each service /readyz asks
_MAX_REQUEST_BYTES = 16 * 1024


async def serve_http(
    hub: Hub, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])

    async def handle(stream: trio.SocketStream) -> None:
        await _handle(hub, stream)

    await trio.serve_listeners(handle, listeners)


async def _route(hub: Hub, method: bytes, target: bytes) -> tuple[int, bytes, bytes]:
    path = target.split(b"?", 1)[0]
    if method != b"GET":
        return 405, b"application/json", orjson.dumps({"error": "only GET is served"})
    if path == b"/healthz":
        users = hub.users.values()
        body = {
            "status": "ok" if hub.accepting else "shutting_down",
            "users": len(users),
            "connections": sum(len(u.connections) for u in users),
        }
        return (200 if hub.accepting else 503), b"application/json", orjson.dumps(body)
    if path == b"/readyz":
        waiting_for = await _not_ready(hub)
        ready = {"status": "not_ready" if waiting_for else "ready", "waiting_for": waiting_for}
        return (503 if waiting_for else 200), b"application/json", orjson.dumps(ready)
    if path == b"/metrics":
        return 200, CONTENT_TYPE_LATEST.encode(), exposition(hub)
    return 404, b"application/json", orjson.dumps({"error": "not found"})


async def _not_ready(hub: Hub) -> list[str]:
    """What keeps the server from serving a new connection now."""
    waiting_for = []
    if not hub.accepting:
        waiting_for.append("shutdown")
    coordinator = hub.services.coordinator
    try:
        with trio.fail_after(_CHECK_S):
            await coordinator.ping()
    except (ServiceUnavailable, trio.TooSlowError):
        waiting_for.append(coordinator.health.name if coordinator.health else "cluster")
    try:
        with trio.fail_after(_CHECK_S):
            await hub.services.storage.ping()
    except (StorageError, trio.TooSlowError):
        waiting_for.append("storage")
    return waiting_for


async def _handle(hub: Hub, stream: trio.abc.Stream) -> None:
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST_BYTES)
    try:
        with trio.move_on_after(_REQUEST_TIMEOUT_S):
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(bytes(await stream.receive_some(4096)))
                    continue
                if isinstance(event, h11.Request):
                    status, content_type, body = await _route(hub, event.method, event.target)
                    headers = [
                        (b"content-type", content_type),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ]
                    await stream.send_all(
                        connection.send(h11.Response(status_code=status, headers=headers))
                    )
                    await stream.send_all(connection.send(h11.Data(data=body)))
                    await stream.send_all(connection.send(h11.EndOfMessage()))
                break
    except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)
