"""Prometheus metrics read from the server's counters at scrape time.

A collector, not live metric objects: the hot path only bumps plain integers
and :class:`~netra_trio.histogram.Histogram` counts on :class:`ServerStats`
(and the event log), and the exposition is built when someone asks, together
with prometheus_client's process, platform and garbage-collector collectors
and ``netra_build_info``. Names follow Prometheus's conventions: base units
(seconds, bytes), counters end in ``_total``.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

import netra_trio
from netra_trio.histogram import Histogram

if TYPE_CHECKING:
    from netra_trio.server.hub import Hub


def _labelled(
    name: str, help_text: str, label: str, values: Mapping[str, int] | Mapping[int, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=[label])
    for key, count in sorted(values.items(), key=lambda item: str(item[0])):
        family.add_metric([str(key)], count)
    return family


def _histogram(
    name: str, help_text: str, series: Iterable[tuple[list[str], Histogram]], labels: list[str]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, help_text, labels=labels)
    for label_values, histogram in series:
        family.add_metric(label_values, histogram.cumulative(), sum_value=histogram.total)
    return family


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()
        yield from self._refusals()
        yield from self._traffic()
        yield from self._timings()
        yield from self._counters()
        build = GaugeMetricFamily(
            "netra_build_info", "The server's version (always 1)", labels=["version", "python"]
        )
        build.add_metric([netra_trio.__version__, platform.python_version()], 1)
        yield build

    def _gauges(self) -> Iterator[Metric]:
        hub = self._hub
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

    def _refusals(self) -> Iterator[Metric]:
        stats = self._hub.stats
        yield _labelled(
            "netra_connections_closed",
            "Connections closed, by close code",
            "code",
            stats.closes_by_code,
        )
        rejected = CounterMetricFamily(
            "netra_handshakes_rejected",
            "Handshakes refused, by HTTP status and error code",
            labels=["status", "code"],
        )
        for (status, code), count in sorted(stats.handshake_refusals.items()):
            rejected.add_metric([str(status), code], count)
        yield rejected
        yield _labelled(
            "netra_errors_sent",
            "error frames sent to clients (frames refused or failed), by error code",
            "code",
            stats.errors_sent,
        )

    def _traffic(self) -> Iterator[Metric]:
        stats = self._hub.stats
        for direction, by_type in (
            ("received", stats.received_by_type),
            ("sent", stats.sent_by_type),
        ):
            frames = CounterMetricFamily(
                f"netra_frames_{direction}",
                f"WebSocket frames {direction}, by frame type",
                labels=["type"],
            )
            sizes = CounterMetricFamily(
                f"netra_{direction}_bytes",
                f"Payload bytes of the WebSocket frames {direction}, by frame type",
                labels=["type"],
            )
            for kind, (count, size) in sorted(by_type.items()):
                frames.add_metric([kind], count)
                sizes.add_metric([kind], size)
            yield frames
            yield sizes

    def _timings(self) -> Iterator[Metric]:
        hub, stats = self._hub, self._hub.stats
        yield _histogram(
            "netra_event_write_latency_seconds",
            "From an agent event's emission to the write that hands it to a client's socket"
            " (each live delivery to each connection)",
            [([], stats.event_write_latency)],
            [],
        )
        yield _histogram(
            "netra_event_commit_seconds",
            "Duration of each append of a batch of events to the event store (failed ones too)",
            [([], hub.services.event_log.commit_seconds)],
            [],
        )
        yield _histogram(
            "netra_run_duration_seconds",
            "Duration of agent runs on this process, by how they ended",
            [([outcome], h) for outcome, h in sorted(stats.run_seconds.items())],
            ["outcome"],
        )

    def _counters(self) -> Iterator[Metric]:
        hub, stats = self._hub, self._hub.stats
        event_log = hub.services.event_log
        yield CounterMetricFamily(
            "netra_connections_opened", "Connections accepted", value=stats.connections_opened
        )
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
            (
                "netra_rate_limited",
                "Client frames (text, binary, ping, pong) refused for the message rate",
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
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry)
