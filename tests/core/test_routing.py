"""Identity and fan-out rules: who may name whom, and who hears about what."""

from __future__ import annotations

from typing import Any

import pytest

from netra_trio.core.routing import frame_allowed, identity_violation


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping"},
        {"type": "ping", "user_id": "alice"},
        {"type": "user_message", "payload": {"user_id": "mallory"}},  # only top level counts
    ],
)
def test_no_violation(frame: dict[str, Any]) -> None:
    assert identity_violation(frame, "alice") is None


@pytest.mark.parametrize(
    "named",
    ["bob", "Alice", "alice ", "", 5, ["alice"], {"id": "alice"}],
)
def test_naming_another_user_is_a_violation(named: Any) -> None:
    reason = identity_violation({"type": "ping", "user_id": named}, "alice")
    assert reason is not None
    assert "user_id" in reason


def test_violation_reason_does_not_echo_the_named_user() -> None:
    reason = identity_violation({"user_id": "bob-secret-id"}, "alice")
    assert reason is not None
    assert "bob-secret-id" not in reason
    # the reason logged with the security_violation event, the same for any name
    assert reason == "frame names another user_id"


def test_frame_allowed_only_for_its_own_user() -> None:
    assert frame_allowed("alice", "alice")
    assert not frame_allowed("alice", "bob")
    assert not frame_allowed("alice", "Alice")
    assert not frame_allowed("", "alice")
