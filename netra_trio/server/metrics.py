"""Prometheus metrics read from the server's counters at scrape time.

A collector, not live metric objects: the hot path only bumps plain integers
on :class:`ServerStats`, and the exposition is built when someone asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from netra_trio.server.hub import Hub


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        hub, stats = self._hub, self._hub.stats
        event_log = hub.services.event_log
        users = hub.users.values()
        yield GaugeMetricFamily("netra_users", "Users with a live hub", value=len(users))
        yield GaugeMetricFamily(
            "netra_connections",
            "Open WebSocket connections",
            value=sum(len(u.connections) for u in users),
        )
        yield GaugeMetricFamily(
            "netra_sessions_attached",
            "Sessions with a live connection",
            value=len(hub.services.sessions.attached),
        )
        yield GaugeMetricFamily(
            "netra_runs_active",
            "Agent runs in progress",
            value=sum(len(u.runs.active) for u in users),
        )
        yield CounterMetricFamily(
            "netra_connections_opened", "Connections accepted", value=stats.connections_opened
        )
        closes = CounterMetricFamily(
            "netra_connections_closed", "Connections closed, by close code", labels=["code"]
        )
        for code, count in sorted(stats.closes_by_code.items()):
            closes.add_metric([str(code)], count)
        yield closes
        rejected = CounterMetricFamily(
            "netra_handshakes_rejected", "Handshakes refused, by HTTP status", labels=["status"]
        )
        for status, count in sorted(stats.handshakes_rejected.items()):
            rejected.add_metric([str(status)], count)
        yield rejected
        for name, help_text, value in [
            (
                "netra_security_violations",
                "Frames refused for naming another user",
                stats.security_violations,
            ),
            (
                "netra_fence_refused",
                "Outbound frames refused by the writer's user check",
                stats.fence_refused,
            ),
            ("netra_evictions", "Emergency cleanups (close 4009)", stats.evictions),
            (
                "netra_slow_consumers",
                "Connections closed as slow consumers (4008)",
                stats.slow_consumers,
            ),
            (
                "netra_heartbeats_lost",
                "Connections closed for a lost heartbeat (4002)",
                stats.heartbeats_lost,
            ),
            ("netra_frames_shed", "LOW/NORMAL frames dropped under pressure", stats.frames_shed),
            ("netra_errors_sent", "error frames sent to clients", stats.errors_sent),
            (
                "netra_rate_limited",
                "Client frames refused for the message rate",
                stats.rate_limited,
            ),
            (
                "netra_sessions_expired",
                "Sessions expired and deleted",
                hub.services.sessions.expired,
            ),
            ("netra_events_stored", "Agent events stored and published", event_log.events),
            (
                "netra_event_batches",
                "Group commits of the event log (events stored per commit: the ratio)",
                event_log.batches,
            ),
            (
                "netra_low_value_rounds",
                "Loop rounds in which low-value work (typing indicators) waited its turn",
                hub.services.low_work.rounds,
            ),
        ]:
            yield CounterMetricFamily(name, help_text, value=value)


def exposition(hub: Hub) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    return generate_latest(registry)
