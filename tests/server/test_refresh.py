"""``refresh`` on the virtual clock: a new token of the same user moves the
connection's expiry (later or earlier); a token of another user is a security
violation and an invalid one ``UNAUTHORIZED``, both keeping the old expiry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import trio
import trio.testing

from netra_trio.errors import CloseCode
from tests.helpers import SECRET, token_for
from tests.server.harness import RawClient, open_raw, running_hub

OLD_TTL_S = 120.0
NO_IDLE: dict[str, Any] = {"idle_timeout_s": 100_000.0}  # only the token ends these connections


async def _refresh(client: RawClient, token: str) -> dict[str, Any]:
    return await client.request("refresh", {"token": token})


async def _closed_after(client: RawClient, start: float) -> tuple[int, float]:
    close = await client.until_close()
    return close.code, trio.current_time() - start


async def test_a_later_token_keeps_the_connection_past_the_old_expiry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(**NO_IDLE) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", ttl_s=OLD_TTL_S, pump=True)
        start = trio.current_time()
        await trio.sleep(60)
        new_token = token_for("alice", ttl_s=3600)
        reply = await _refresh(client, new_token)
        assert reply["type"] == "token_refreshed"
        expires_at = jwt.decode(new_token, options={"verify_signature": False})["exp"]
        assert reply["payload"] == {"expires_at": float(expires_at)}
        code, elapsed = await _closed_after(client, start)
        assert code == CloseCode.POLICY_VIOLATION
        assert 60 + 3599 <= elapsed <= 60 + 3601
        assert hub.stats.security_violations == 0


async def test_an_earlier_token_brings_the_expiry_forward(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(**NO_IDLE) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", ttl_s=3600, pump=True)
        start = trio.current_time()
        assert (await _refresh(client, token_for("alice", ttl_s=30)))["type"] == "token_refreshed"
        code, elapsed = await _closed_after(client, start)
        assert code == CloseCode.POLICY_VIOLATION
        assert 29 <= elapsed <= 31


def _expired() -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) - 10}, SECRET)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_expired, "token has expired"),
        (lambda: token_for("alice", _secret="another-secret-0123456789-0123456789"), "signature"),
        (lambda: "not-a-token", "malformed"),
        (lambda: jwt.encode({"sub": "alice", "exp": 1e308}, SECRET), "366 days"),
    ],
    ids=["expired", "bad-signature", "malformed", "absurd-expiry"],
)
async def test_an_invalid_token_is_unauthorized_and_keeps_the_old_expiry(
    autojump_clock: trio.testing.MockClock, token: Callable[[], str], reason: str
) -> None:
    async with running_hub(**NO_IDLE) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", ttl_s=OLD_TTL_S, pump=True)
        start = trio.current_time()
        text = token()
        reply = await _refresh(client, text)
        assert reply["type"] == "error"
        payload = reply["payload"]
        assert payload["code"] == "UNAUTHORIZED"
        assert reason in payload["message"]
        assert text not in str(reply)
        assert (await client.request("ping"))["type"] == "pong"  # the connection stays
        code, elapsed = await _closed_after(client, start)
        assert code == CloseCode.POLICY_VIOLATION
        assert OLD_TTL_S - 1 <= elapsed <= OLD_TTL_S + 1
        assert hub.stats.security_violations == 0


async def test_another_users_token_is_a_violation_and_keeps_the_old_expiry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(**NO_IDLE) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", ttl_s=OLD_TTL_S, pump=True)
        start = trio.current_time()
        bob = token_for("bob", ttl_s=3600)
        reply = await _refresh(client, bob)
        assert reply["type"] == "error"
        assert reply["payload"]["code"] == "FORBIDDEN"
        assert "another user" in reply["payload"]["message"]
        assert bob not in str(reply)
        assert hub.stats.security_violations == 1
        code, elapsed = await _closed_after(client, start)
        assert code == CloseCode.POLICY_VIOLATION
        assert OLD_TTL_S - 1 <= elapsed <= OLD_TTL_S + 1


async def test_repeated_refreshes_with_another_users_token_close_with_1008(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(max_violations=5, **NO_IDLE) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", ttl_s=3600, pump=True)
        bob = token_for("bob", ttl_s=3600)
        for _ in range(4):
            assert (await _refresh(client, bob))["payload"]["code"] == "FORBIDDEN"
        await client.send_json({"type": "refresh", "payload": {"token": bob}, "message_id": "r5"})
        close, frames = await client.frames_until_close()
        assert [f["payload"]["code"] for f in frames if f["type"] == "error"] == ["FORBIDDEN"]
        assert close.code == CloseCode.POLICY_VIOLATION
        assert hub.stats.security_violations == 5


@pytest.mark.parametrize("payload", [{}, {"token": ""}, {"token": 5}, {"token": "x" * 16_385}])
async def test_a_refresh_without_a_token_is_an_invalid_message(
    autojump_clock: trio.testing.MockClock, payload: dict[str, object]
) -> None:
    async with running_hub(**NO_IDLE) as (hub, nursery):
        client = await open_raw(hub, nursery, "alice", pump=True)
        reply = await client.request("refresh", payload)
        assert reply["payload"]["code"] == "INVALID_MESSAGE"
        assert "token" in reply["payload"]["message"]
