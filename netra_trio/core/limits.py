"""Admission and abuse limits as plain decisions."""

from __future__ import annotations

import enum

import attrs


class Admission(enum.Enum):
    ADMIT = "admit"
    TOO_MANY_CONNECTIONS = "too_many_connections"


def admit_connection(held: int, max_per_user: int) -> Admission:
    """``held`` counts live connections and handshakes already admitted."""
    return Admission.ADMIT if held < max_per_user else Admission.TOO_MANY_CONNECTIONS


class ViolationAction(enum.Enum):
    REFUSE = "refuse"  # answer FORBIDDEN, keep the connection
    REFUSE_AND_CLOSE = "refuse_and_close"  # answer FORBIDDEN, then close with 1008


@attrs.define
class ViolationCounter:
    limit: int
    count: int = 0

    def record(self) -> ViolationAction:
        self.count += 1
        return (
            ViolationAction.REFUSE_AND_CLOSE if self.count >= self.limit else ViolationAction.REFUSE
        )


MAX_BATCH_MESSAGES = 50
MAX_CONTENT_CHARS = 10_000


def utf8_length_exceeds(text: str, max_bytes: int) -> bool:
    """Whether ``text`` encodes to more than ``max_bytes`` UTF-8 bytes, without
    encoding it when its character count already decides."""
    if len(text) > max_bytes:
        return True
    if 4 * len(text) <= max_bytes:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes
