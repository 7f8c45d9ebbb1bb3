"""What a client sends cannot forge a line of the server's log or flood it:
the server's own records, rendered by the default (text) format."""

from __future__ import annotations

import logging

import orjson
import pytest

from netra_trio.logs import MAX_VALUE_CHARS, JsonFormatter, TextFormatter
from netra_trio.server.app import Server
from tests.e2e.support import connect
from tests.helpers import logged_fields

pytestmark = pytest.mark.e2e

FORGED = "12:00:00 WARNING security_violation user=bob reason=forged"


def rendered(records: list[logging.LogRecord], formatter: logging.Formatter) -> list[str]:
    return [formatter.format(r) for r in records if not r.exc_info]


async def test_a_field_name_with_a_newline_is_logged_on_one_escaped_line(
    server: Server, netra_logs: pytest.LogCaptureFixture
) -> None:
    async with connect(server, "alice") as client:
        frame = {"type": "ping", "message_id": "c-1", f"x\n{FORGED}\n": 1}
        await client.send_raw(orjson.dumps(frame).decode())
        error = await client.receive_type("error")
        assert error["payload"]["code"] == "INVALID_MESSAGE"
    logged = [f for f in logged_fields(netra_logs, "client_error") if "x\n" in f["message"]]
    assert len(logged) == 1  # the record holds the name as it came
    lines = rendered(netra_logs.records, TextFormatter())
    assert all("\n" not in line for line in lines)
    assert not any(line.startswith(FORGED) for text in lines for line in text.splitlines())
    (line,) = [line for line in lines if " client_error " in line]
    assert r"'x\n12:00:00 WARNING security_violation user=bob reason=forged\n'" in line
    assert " user=alice " in line


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
async def test_a_huge_thread_id_is_logged_cut_to_the_bound(
    server: Server, netra_logs: pytest.LogCaptureFixture, formatter: logging.Formatter
) -> None:
    thread_id = "t" * 60_000
    async with connect(server, "alice") as client:
        for _ in range(3):
            await client.send("user_message", {"content": "hi"}, thread_id=thread_id)
            error = await client.receive_type("error")
            assert error["payload"]["code"] in {"NOT_FOUND", "INVALID_MESSAGE"}
    assert any(
        thread_id in str(f.get("message")) for f in logged_fields(netra_logs, "client_error")
    )
    lines = rendered(netra_logs.records, formatter)
    assert max(len(line) for line in lines) < 10 * MAX_VALUE_CHARS  # every field is cut
    assert sum(" more chars]" in line for line in lines) >= 3
