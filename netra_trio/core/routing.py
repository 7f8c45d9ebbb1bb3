"""Identity rules: who a frame may name, and whose sockets a frame may reach."""

from __future__ import annotations

from typing import Any


def identity_violation(frame: dict[str, Any], user_id: str) -> str | None:
    """A reason when a client frame names a user other than the connection's."""
    if "user_id" not in frame:
        return None
    named = frame["user_id"]
    if named == user_id:
        return None
    return "frame names another user_id"


def frame_allowed(frame_user: str, connection_user: str) -> bool:
    """The writer's second fence: a frame goes only to its own user's sockets."""
    return frame_user == connection_user
