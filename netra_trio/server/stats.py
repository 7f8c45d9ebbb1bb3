"""Counters of what the server did, read by tests, logs and the metrics endpoint.

Plain integers, dicts and :class:`Histogram` objects bumped on the event loop
(no locks, no metric objects on the hot path); ``metrics.py`` reads them when
``/metrics`` is scraped.

Traffic is counted by frame type: a client frame by its ``type`` (``invalid``
when it is not a JSON object with a known type; ``binary``; the WebSocket's
own ``websocket_ping`` and ``websocket_pong``), a server frame by its ``type``
(the frames a ``batch`` frame carries each by their own; the server's own
control frames are not counted). Bytes are those of the frame's payload (a
text frame's UTF-8 bytes), without the WebSocket's framing.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from netra_trio.histogram import LATENCY_BOUNDS_S, RUN_BOUNDS_S, Histogram

if TYPE_CHECKING:
    from netra_trio.server.scheduler import OutboundFrame

_TYPE_PREFIX = '{"type":"'  # how every frame the server encodes begins (codec.encode)
_TYPE_START = len(_TYPE_PREFIX)


def frame_kind(text: str) -> str:
    """The type of a frame the server encoded, read from its text."""
    if text.startswith(_TYPE_PREFIX):
        end = text.find('"', _TYPE_START, _TYPE_START + 64)
        if end > 0:
            return text[_TYPE_START:end]
    return "other"


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


@attrs.define
class ServerStats:
    connections_opened: int = 0
    closes_by_code: Counter[int] = attrs.Factory(Counter)
    handshakes_rejected: Counter[int] = attrs.Factory(Counter)  # by HTTP status
    handshake_refusals: Counter[tuple[int, str]] = attrs.Factory(Counter)  # (status, code)
    security_violations: int = 0
    fence_refused: int = 0
    evictions: int = 0
    slow_consumers: int = 0
    heartbeats_lost: int = 0
    frames_shed: int = 0
    errors_sent: Counter[str] = attrs.Factory(Counter)  # by error code
    rate_limited: int = 0
    # by frame type: [frames, payload bytes]
    received_by_type: dict[str, list[int]] = attrs.Factory(dict)
    sent_by_type: dict[str, list[int]] = attrs.Factory(dict)
    # from an agent event's emission to the write that hands it to a socket
    event_write_latency: Histogram = attrs.Factory(lambda: Histogram(LATENCY_BOUNDS_S))
    run_seconds: dict[str, Histogram] = attrs.Factory(dict)  # by how the run ended

    def record_close(self, code: int) -> None:
        self.closes_by_code[code] += 1

    def record_handshake_refusal(self, status: int, code: str) -> None:
        self.handshakes_rejected[status] += 1
        self.handshake_refusals[status, code] += 1

    def received(self, kind: str, size: int) -> None:
        entry = self.received_by_type.get(kind)
        if entry is None:
            entry = self.received_by_type[kind] = [0, 0]
        entry[0] += 1
        entry[1] += size

    def sent(self, frames: Sequence[OutboundFrame]) -> None:
        """Frames handed to a socket now: counted by type, and each live agent
        event's time since it was emitted observed. (Once per frame per
        connection: written for speed, ~0.2 us a frame.)"""
        by_type = self.sent_by_type
        latency = self.event_write_latency
        bounds, counts = latency.bounds, latency.counts
        now = waited = 0.0
        for frame in frames:
            text = frame.text
            kind = frame.kind or frame_kind(text)
            entry = by_type.get(kind)
            if entry is None:
                entry = by_type[kind] = [0, 0]
            entry[0] += 1
            entry[1] += len(text) if text.isascii() else utf8_size(text)
            emitted = frame.emitted_at
            if emitted:
                if not now:
                    now = time.time()
                # (clamped: the event may come from another machine's clock)
                seconds = now - emitted if now > emitted else 0.0
                counts[bisect_left(bounds, seconds)] += 1
                waited += seconds
        latency.total += waited

    def run_ended(self, outcome: str, seconds: float) -> None:
        histogram = self.run_seconds.get(outcome)
        if histogram is None:
            histogram = self.run_seconds[outcome] = Histogram(RUN_BOUNDS_S)
        histogram.observe(seconds)
