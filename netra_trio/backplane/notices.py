"""Notices: what one process tells the user's hubs on the other processes, beside events.

Events are stored, numbered and replayable; notices are none of that. Two kinds:
a frame for the user's connections on the other processes (:class:`FanOut`:
typing indicators, LOW priority, which may be shed), and a request to stop a run
that runs on another process (:class:`StopRun`). A backplane hands a notice to
every *other* process that holds its user, at most once; never back to the
process that sent it, which acts on it itself.
"""

from __future__ import annotations

import attrs
import orjson

from netra_trio.core.priority import Priority


@attrs.frozen
class FanOut:
    user_id: str
    text: str  # the encoded frame
    priority: Priority
    coalesce_key: tuple[str, ...] | None = None


@attrs.frozen
class StopRun:
    user_id: str
    run_id: str


Notice = FanOut | StopRun


def encode_notice(origin: str, notice: Notice) -> bytes:
    """``origin`` (the sending process) and the notice, as one JSON object."""
    if isinstance(notice, FanOut):
        body = {
            "o": origin,
            "k": "fan_out",
            "t": notice.text,
            "p": int(notice.priority),
            "c": notice.coalesce_key,
        }
    else:
        body = {"o": origin, "k": "stop_run", "r": notice.run_id}
    return orjson.dumps(body)


def decode_notice(user_id: str, data: bytes) -> tuple[str, Notice]:
    """The origin and the notice; ValueError for anything else."""
    try:
        body = orjson.loads(data)
        origin, kind = body["o"], body["k"]
        if kind == "fan_out":
            key = body["c"]
            return origin, FanOut(
                user_id, body["t"], Priority(body["p"]), tuple(key) if key is not None else None
            )
        if kind == "stop_run":
            return origin, StopRun(user_id, body["r"])
    except (ValueError, KeyError, TypeError) as exc:  # (orjson.JSONDecodeError too)
        raise ValueError(f"not a notice: {exc}") from exc
    raise ValueError(f"not a notice: kind {kind!r}")
