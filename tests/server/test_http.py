"""The health and metrics listener, over a real loopback socket."""

from __future__ import annotations

import trio

from netra_trio.client import open_client
from tests.helpers import start_server, token_for
from tests.server.harness import wait_until


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        data = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_health_and_metrics_report_live_counts(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, metrics_port=0)
    assert server.metrics_port
    async with open_client(server.url, token_for("alice")) as client:
        await client.send("ping", user_id="mallory")
        await client.receive_type("error")
        await client.send("start_agent", {"agent": "triage", "input": "cut cost"})
        await client.receive_type("agent_completed")
        # the run's task ends just after its last event: wait for it
        await wait_until(lambda: not any(u.runs.active for u in server.hub.users.values()))
        status, body = await http_get(server.metrics_port, "/healthz")
        assert status == 200
        assert body == b'{"status":"ok","users":1,"connections":1}'
        status, body = await http_get(server.metrics_port, "/metrics")
        assert status == 200
        text = body.decode()
        assert "netra_connections 1.0" in text
        assert "netra_security_violations_total 1.0" in text
        assert "netra_sessions_attached 1.0" in text
        assert "netra_runs_active 0.0" in text
        assert "netra_rate_limited_total 0.0" in text
        stored = server.hub.services.event_log.events
        assert stored >= 4  # started, a tool call, completed
        assert f"netra_events_stored_total {stored:.1f}" in text
        assert f"netra_event_batches_total {server.hub.services.event_log.batches:.1f}" in text
        assert "netra_low_value_rounds_total 0.0" in text
    assert (await http_get(server.metrics_port, "/nope"))[0] == 404
    assert await http_get(server.metrics_port, "/readyz") == (
        200,
        b'{"status":"ready","waiting_for":[]}',
    )
    server.hub.begin_shutdown()
    status, body = await http_get(server.metrics_port, "/healthz")
    assert status == 200 and b"shutting_down" in body  # the process runs: alive
    status, body = await http_get(server.metrics_port, "/readyz")
    assert (status, body) == (503, b'{"status":"not_ready","waiting_for":["shutdown"]}')
    server.request_shutdown()
