"""The server-sent events of a response body, decoded as its bytes arrive (sans-IO).

:class:`SseDecoder` takes the body's pieces as the network delivers them and
gives back the ``data`` of each event that has some, in order. The decoding is
httpx-sse's: its line decoder (lines end at CRLF, LF or CR, also across
pieces) and its event decoder (fields, comments, multi-line data, as the HTML
standard specifies), fed with UTF-8 text (an invalid byte becomes U+FFFD, as
httpx decodes a body). They are used directly rather than through
``EventSource.aiter_sse``, which stacks five async generators over the body
(raw, bytes, text, lines, events), each resumed for every piece: on a stream of
small events, that stack costs more than the decoding itself.

One event's size is bounded: more than ``max_event_bytes`` of the body
without an event's end (a blank line) raises :class:`EventTooLarge`, counted
in the pieces that the network delivers (exact to one piece), so no event is
held whole past the limit. As the standard says, an event that the body's end
cuts off (no blank line after it) is dropped.
"""

from __future__ import annotations

import codecs

# The decoders that httpx-sse's EventSource runs, without its generator stack
# (pinned to httpx-sse 0.4 in pyproject.toml).
from httpx_sse._decoders import SSEDecoder, SSELineDecoder


class EventTooLarge(Exception):
    pass


class SseDecoder:
    def __init__(self, max_event_bytes: int) -> None:
        self._max_event_bytes = max_event_bytes
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = SSELineDecoder()
        self._events = SSEDecoder()
        self._pending_bytes = 0

    def feed(self, piece: bytes) -> list[str]:
        """The data of the events that ``piece`` completes (those with some)."""
        self._pending_bytes += len(piece)
        text = self._text.decode(piece)
        found = self._decode(self._lines.decode(text)) if text else []
        if self._pending_bytes > self._max_event_bytes:
            raise EventTooLarge
        return found

    def end(self) -> list[str]:
        """The data of an event that the body's last line ending completes."""
        text = self._text.decode(b"", final=True)
        lines = self._lines.decode(text) if text else []
        return self._decode([*lines, *self._lines.flush()])

    def _decode(self, lines: list[str]) -> list[str]:
        found: list[str] = []
        for line in lines:
            if not line:  # an event's end
                self._pending_bytes = 0
            event = self._events.decode(line)
            if event is not None and event.data:
                found.append(event.data)
        return found
