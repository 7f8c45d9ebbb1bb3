"""Allowed origins: compared in their serialised form; no Origin is always
allowed; with a list set, anything not on it is refused."""

from __future__ import annotations

import pytest

from netra_trio.core.origins import OriginPolicy, normalise_origin


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("http://app.example.com:443", "http://app.example.com:443"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("wss://app.example.com:443", "wss://app.example.com"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("chrome-extension://abcdef", "chrome-extension://abcdef"),
        (" https://app.example.com ", "https://app.example.com"),
    ],
)
def test_normalise(text: str, origin: str) -> None:
    assert normalise_origin(text) == origin


@pytest.mark.parametrize(
    "text",
    [
        "null",
        "",
        "app.example.com",
        "https://",
        "https://app.example.com/path",
        "https://app.example.com?x=1",
        "https://app.example.com/?",
        "https://app.example.com#f",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        "https://app.example.com:port",
        "https://app.example.com:" + "9" * 5000,
        "https://" + "ü" * 70 + ".example",  # a label IDNA cannot encode (too long)
    ],
)
def test_what_is_not_an_origin(text: str) -> None:
    assert normalise_origin(text) is None


def origin(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"h"), (b"origin", value.encode())]


def test_without_a_list_every_origin_is_allowed() -> None:
    policy = OriginPolicy(None)
    assert policy.allows(origin("https://evil.example"))
    assert policy.allows(origin("null"))
    assert policy.allows([])


def test_with_a_list_a_listed_origin_is_allowed_in_any_spelling() -> None:
    policy = OriginPolicy(["https://app.example.com", "http://localhost:5173"])
    assert policy.allows(origin("https://app.example.com"))
    assert policy.allows(origin("HTTPS://APP.example.com:443"))
    assert policy.allows(origin("http://localhost:5173"))


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example",
        "http://app.example.com",  # another scheme
        "https://app.example.com:8443",  # another port
        "https://app.example.com.evil.example",
        "null",  # an opaque origin
        "not an origin",
        "",
    ],
)
def test_with_a_list_any_other_origin_is_refused(value: str) -> None:
    assert not OriginPolicy(["https://app.example.com"]).allows(origin(value))


def test_with_a_list_no_origin_is_allowed() -> None:
    assert OriginPolicy(["https://app.example.com"]).allows([(b"host", b"h")])


def test_two_origin_headers_are_refused() -> None:
    headers = [*origin("https://app.example.com"), (b"origin", b"https://app.example.com")]
    assert not OriginPolicy(["https://app.example.com"]).allows(headers)


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/path", "null"])
def test_a_listed_value_that_is_not_an_origin_is_named(value: str) -> None:
    with pytest.raises(ValueError, match="is not an origin") as info:
        OriginPolicy(["https://ok.example", value])
    assert repr(value) in str(info.value)
