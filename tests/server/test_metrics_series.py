"""/metrics of a real server, scraped over loopback before and after real
traffic: traffic by frame type, refusals by code, the latency, commit and run
histograms, the process and GC collectors and the build info."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from trio_websocket import ConnectionRejected

import netra_trio
from netra_trio.client import open_client
from netra_trio.server.app import Server
from tests.helpers import start_server, token_for
from tests.runs.support import AGENT_EVENTS
from tests.server.harness import wait_until
from tests.server.test_http import http_get

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def scrape(server: Server) -> tuple[str, Samples]:
    assert server.metrics_port is not None
    status, body = await http_get(server.metrics_port, "/metrics")
    assert status == 200
    return body.decode(), samples(body.decode())


@pytest.fixture
async def server(nursery: trio.Nursery) -> Iterator[Server]:
    server = await start_server(nursery, metrics_port=0)
    yield server
    server.request_shutdown()


async def test_traffic_refusals_and_timings_move_with_real_traffic(server: Server) -> None:
    _, before = await scrape(server)
    assert value(before, "netra_frames_received_total", type="ping") == 0
    assert value(before, "netra_event_write_latency_seconds_count") == 0

    ping_text = orjson.dumps({"type": "ping", "message_id": "m-1", "payload": {"é": 1}}).decode()
    token = token_for("alice")
    events = 0
    async with open_client(server.url, token) as runner, open_client(server.url, token) as other:
        await runner.send_raw(ping_text)
        assert (await runner.receive_type("pong"))["correlation_id"] == "m-1"
        with trio.fail_after(10):
            await runner.ws.ping(b"1234")  # the WebSocket's own ping, answered
        await runner.send_raw("{not json")
        assert (await runner.receive_type("error"))["payload"]["code"] == "INVALID_JSON"
        await runner.send_raw(b"\x00\x01")
        assert (await runner.receive_type("error"))["payload"]["code"] == "INVALID_MESSAGE"
        await runner.send("start_agent", {"agent": "triage", "input": "cut cost"})
        with trio.fail_after(10):
            while (frame := await runner.receive())["type"] != "agent_completed":
                events += frame["type"] in AGENT_EVENTS
        events += 1
        with trio.fail_after(10):  # the other connection of the user gets every event too
            seen = 0
            while seen < events:
                seen += (await other.receive())["type"] in AGENT_EVENTS
        await wait_until(lambda: not any(u.runs.active for u in server.hub.users.values()))
        _, live = await scrape(server)
        # a replay sends stored events again: not a live delivery, not observed
        await other.send("resume", {"last_seq": 0})
        await other.receive_type("resume_complete")
        _, after = await scrape(server)
    with pytest.raises(ConnectionRejected):
        async with open_client(server.url, "not-a-token"):
            pass  # pragma: no cover - refused
    text, refused = await scrape(server)

    # frames and bytes in, by type
    assert value(after, "netra_frames_received_total", type="ping") == 1
    assert value(after, "netra_received_bytes_total", type="ping") == len(ping_text.encode())
    assert value(after, "netra_frames_received_total", type="websocket_ping") == 1
    assert value(after, "netra_received_bytes_total", type="websocket_ping") == 4
    assert value(after, "netra_frames_received_total", type="invalid") == 1
    assert value(after, "netra_frames_received_total", type="binary") == 1
    assert value(after, "netra_frames_received_total", type="start_agent") == 1
    assert value(after, "netra_frames_received_total", type="resume") == 1
    # frames and bytes out, by type
    assert value(after, "netra_frames_sent_total", type="connection_established") == 2
    assert value(after, "netra_frames_sent_total", type="pong") == 1
    assert value(after, "netra_frames_sent_total", type="error") == 2
    assert value(after, "netra_frames_sent_total", type="agent_completed") == 2 + 1  # + replay
    assert value(after, "netra_frames_sent_total", type="resume_complete") == 1
    assert value(after, "netra_sent_bytes_total", type="pong") > len(ping_text)
    # refusals by code
    assert value(after, "netra_errors_sent_total", code="INVALID_JSON") == 1
    assert value(after, "netra_errors_sent_total", code="INVALID_MESSAGE") == 1
    assert value(after, "netra_handshakes_rejected_total", status="401", code="UNAUTHORIZED") == 0
    assert value(refused, "netra_handshakes_rejected_total", status="401", code="UNAUTHORIZED") == 1
    # emit-to-write latency: each live event, once per connection that got it
    count = value(live, "netra_event_write_latency_seconds_count")
    assert count == 2 * events
    assert value(live, "netra_event_write_latency_seconds_bucket", le="+Inf") == count
    assert 0 < value(live, "netra_event_write_latency_seconds_sum") < 10 * count
    assert value(after, "netra_event_write_latency_seconds_count") == count  # not the replay
    # the event store's commits, and the run
    batches = server.hub.services.event_log.batches
    assert batches >= 1
    assert value(after, "netra_event_commit_seconds_count") == batches
    assert value(after, "netra_event_commit_seconds_sum") > 0
    assert value(after, "netra_run_duration_seconds_count", outcome="success") == 1
    assert value(after, "netra_run_duration_seconds_sum", outcome="success") > 0

    # the process, platform and GC collectors, and the build info
    assert value(refused, "process_cpu_seconds_total") > 0
    assert value(refused, "process_resident_memory_bytes") > 0
    assert value(refused, "python_gc_collections_total", generation="0") > 0
    assert any(name == "python_info" for name, _ in refused)
    build = [labels for name, labels in refused if name == "netra_build_info"]
    assert len(build) == 1 and ("version", netra_trio.__version__) in build[0]
    # naming: every counter of ours ends in _total, durations are in seconds
    families = [f for f in text_string_to_metric_families(text) if f.name.startswith("netra_")]
    for family in families:
        if family.type == "counter":
            assert all(s.name == f"{family.name}_total" for s in family.samples), family
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
    assert {f.type for f in families} == {"counter", "gauge", "histogram"}
