"""A refused handshake read from its status, headers and JSON body."""

from __future__ import annotations

import pytest

from netra_trio.client.core.rejection import read_rejection


def test_a_netra_refusal_gives_its_code_message_and_retry_after() -> None:
    body = b'{"error": {"code": "RATE_LIMITED", "message": "too many handshakes"}}'
    refused = read_rejection(
        429, [("Content-Type", "application/json"), ("Retry-After", "3")], body
    )
    assert (refused.status, refused.code, refused.message) == (
        429,
        "RATE_LIMITED",
        "too many handshakes",
    )
    assert refused.retry_after_s == 3.0
    assert str(refused) == "HTTP 429 RATE_LIMITED: too many handshakes"


@pytest.mark.parametrize(
    "body", [None, b"", b"<html>bad gateway</html>", b"[]", b'{"error": "x"}', b'{"e": 1}', b"\xff"]
)
def test_a_body_that_is_not_netras_leaves_the_status_to_speak(body: bytes | None) -> None:
    refused = read_rejection(502, [], body)
    assert (refused.status, refused.code, refused.retry_after_s) == (502, None, None)
    assert str(refused) == "HTTP 502: the server refused the handshake with HTTP 502"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(" 2 ", 2.0), ("0", 0.0), ("-4", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("inf", None)],
)
def test_retry_after_is_read_in_seconds(value: str, seconds: float | None) -> None:
    assert read_rejection(503, [("retry-after", value)], None).retry_after_s == seconds
