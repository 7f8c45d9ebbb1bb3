"""A user closed for abuse (1008) is refused at the handshake for
``abuse_cooldown_s``: 429 ``RATE_LIMITED`` with ``Retry-After``, cheaply, while
other users connect as usual; after it, the user connects again."""

from __future__ import annotations

import orjson
import trio
import trio.testing
from wsproto.events import RejectConnection, RejectData

from netra_trio.errors import CloseCode
from tests.helpers import token_for
from tests.server.harness import RawClient, open_raw, running_hub


async def _refusal(client: RawClient, user: str) -> tuple[int, dict[bytes, bytes], dict[str, str]]:
    event = await client.handshake(token_for(user), "/ws")
    assert isinstance(event, RejectConnection)
    body = b""
    while not body.endswith(b"}"):
        more = await client.next_event()
        assert isinstance(more, RejectData)
        body += more.data
    return event.status_code, dict(event.headers), orjson.loads(body)["error"]


async def test_a_user_closed_for_abuse_waits_before_connecting_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_hub(abuse_cooldown_s=30, max_violations=1) as (hub, nursery):
        client = await open_raw(hub, nursery, "mallory")
        await client.send_json({"type": "ping", "user_id": "alice"})  # another user's id
        with trio.fail_after(10):
            close, _ = await client.frames_until_close()
        assert close.code == CloseCode.POLICY_VIOLATION
        closed_at = trio.current_time()

        client_stream, server_stream = trio.testing.memory_stream_pair()
        nursery.start_soon(hub.handle_stream, server_stream)
        status, headers, error = await _refusal(RawClient(client_stream), "mallory")
        assert status == 429
        assert error["code"] == "RATE_LIMITED"
        assert "closed for abuse" in error["message"]
        assert headers[b"retry-after"] == b"30"

        other = await open_raw(hub, nursery, "alice")  # others are not held back
        assert other.established["user_id"] == "alice"

        await trio.sleep_until(closed_at + 30)
        again = await open_raw(hub, nursery, "mallory")
        assert again.established["user_id"] == "mallory"
