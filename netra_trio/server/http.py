"""The health and metrics listener, on its own address (``--metrics-host``,
default 127.0.0.1, and ``--metrics-port``).

It answers ``/healthz``, ``/readyz`` and ``/metrics`` (``http_routes.py``);
the main port answers the first two as well. One request per connection,
every read bounded; a request that fails is logged, and the listener (and the
server) go on.
"""

from __future__ import annotations

import logging
from typing import Any

import h11
import trio

from netra_trio.logs import log_event
from netra_trio.server.http_routes import HttpRoutes
from netra_trio.server.hub import Hub
from netra_trio.server.metrics import exposition
from netra_trio.server.upgrade import h11_response

_REQUEST_TIMEOUT_S = 5.0
_MAX_REQUEST_BYTES = 16 * 1024


def metrics_routes(hub: Hub) -> HttpRoutes:
    def health() -> dict[str, Any]:
        users = hub.users.values()
        return {
            "status": "ok" if hub.accepting else "shutting_down",
            "users": len(users),
            "connections": sum(len(u.connections) for u in users),
        }

    return HttpRoutes(hub.readiness, health, metrics=lambda: exposition(hub))


async def serve_http(
    hub: Hub, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])
    routes = metrics_routes(hub)

    async def handle(stream: trio.SocketStream) -> None:
        await _handle(routes, stream)

    await trio.serve_listeners(handle, listeners)


async def _handle(routes: HttpRoutes, stream: trio.abc.Stream) -> None:
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST_BYTES)
    try:
        with trio.move_on_after(_REQUEST_TIMEOUT_S):
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(bytes(await stream.receive_some(4096)))
                    continue
                if isinstance(event, h11.Request):
                    answer = await routes.answer(event.method, event.target)
                    await stream.send_all(
                        h11_response(
                            connection, event.method, answer.status, answer.headers(), answer.body
                        )
                    )
                break
    except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except Exception:  # one request's failure never takes the listener (or the server) down
        log_event("http_error", logging.ERROR, exc_info=True)
    finally:
        await trio.aclose_forcefully(stream)
