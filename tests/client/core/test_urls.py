"""Reading a server URL: default ports and path, the query, the session to resume."""

from __future__ import annotations

import pytest

from netra_trio.client.core.urls import ServerAddress, parse_url


@pytest.mark.parametrize(
    ("url", "secure", "host", "port", "resource", "host_header"),
    [
        ("ws://example.com", False, "example.com", 80, "/ws", "example.com"),
        ("wss://example.com", True, "example.com", 443, "/ws", "example.com"),
        ("ws://example.com:8765/ws", False, "example.com", 8765, "/ws", "example.com:8765"),
        ("wss://example.com:443/netra/ws", True, "example.com", 443, "/netra/ws", "example.com"),
        ("wss://Example.COM:8443/", True, "example.com", 8443, "/", "example.com:8443"),
        ("ws://[::1]:9000/ws", False, "::1", 9000, "/ws", "[::1]:9000"),
        ("ws://[::1]/ws", False, "::1", 80, "/ws", "[::1]"),
        ("ws://127.0.0.1:1/ws?batch=1", False, "127.0.0.1", 1, "/ws?batch=1", "127.0.0.1:1"),
    ],
)
def test_a_url_is_read_with_its_defaults(
    url: str, secure: bool, host: str, port: int, resource: str, host_header: str
) -> None:
    address = parse_url(url)
    assert (address.secure, address.host, address.port) == (secure, host, port)
    assert address.resource() == resource
    assert address.host_header == host_header


def test_the_session_to_resume_replaces_any_in_the_query() -> None:
    address = parse_url("ws://h/ws?batch=1&session_id=old&x=")
    assert address.session_id == "old"
    assert address.resource(None) == "/ws?batch=1&x="
    assert address.resource("s 1") == "/ws?batch=1&x=&session_id=s+1"
    assert address.url("abc") == "ws://h/ws?batch=1&x=&session_id=abc"
    assert parse_url("wss://h:444").url() == "wss://h:444/ws"
    assert parse_url("wss://h:444").session_id is None


def test_by_default_the_query_is_sent_as_written() -> None:
    written = "ws://h/ws?session_id=a%2Fb&batch&x=%7E"
    assert parse_url(written).resource() == "/ws?session_id=a%2Fb&batch&x=%7E"
    assert parse_url(written).url() == written
    assert parse_url("ws://h/ws?").resource() == "/ws"


def test_an_address_can_be_made_directly() -> None:
    address = ServerAddress(secure=True, host="h", port=443, path="/ws", query=(("a", "1"),))
    assert address.url() == "wss://h/ws?a=1"
    assert address.url("s") == "wss://h/ws?a=1&session_id=s"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/ws", "expected a ws:// or wss:// URL"),
        ("example.com:8765", "expected a ws:// or wss:// URL"),
        ("ws:///ws", "names no host"),
        ("ws://user:secret@example.com/ws", "a URL with credentials is refused"),
        ("ws://example.com/ws#frag", "has no fragment"),
        ("ws://example.com:99999/ws", "cannot read the URL"),
        ("ws://example.com:port/ws", "cannot read the URL"),
    ],
)
def test_a_url_that_cannot_be_used_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_url(url)


def test_the_refusal_of_credentials_does_not_echo_them() -> None:
    with pytest.raises(ValueError) as refused:
        parse_url("ws://user:secret@example.com/ws")
    assert "secret" not in str(refused.value)
