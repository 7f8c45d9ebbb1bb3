"""Identity and fan-out rules: who may name whom, and who receives what."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def identity_violation(frame: dict[str, Any], user_id: str) -> str | None:
    """A reason when a client frame names a user other than the connection's."""
    if "user_id" not in frame:
        return None
    named = frame["user_id"]
    if named == user_id:
        return None
    return "frame names another user_id"


def others(connection_ids: Iterable[str], sender: str) -> list[str]:
    """The connections of the same user that should hear about ``sender``."""
    return [cid for cid in connection_ids if cid != sender]


def frame_allowed(frame_user: str, connection_user: str) -> bool:
    """The writer's second fence: a frame goes only to its own user's sockets."""
    return frame_user == connection_user
