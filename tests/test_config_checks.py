"""Configuration checks not covered in ``test_config.py``: the session key, the
message burst against a full batch, the LLM endpoint's URL, the trusted
proxies and allowed origins, the handshake rate's former name, and the form of
``--agents`` entries."""

from __future__ import annotations

import base64

import pytest

from netra_trio.config import Config
from netra_trio.core.limits import MAX_BATCH_MESSAGES
from netra_trio.errors import ConfigError

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")


def test_a_session_key_is_32_bytes_base64url_with_or_without_padding() -> None:
    assert Config(session_key=KEY).session_key_bytes == bytes(range(32))
    assert Config(session_key=KEY + "=").session_key_bytes == bytes(range(32))
    assert Config().session_key_bytes is None  # none configured: the server makes one up


@pytest.mark.parametrize(
    "key",
    [
        base64.urlsafe_b64encode(bytes(16)).decode(),  # decodes, but to 16 bytes
        "abcde",  # not base64: one character past a whole group
        "é" * 43,  # not ASCII
    ],
)
def test_a_session_key_that_is_not_32_bytes_is_refused_without_echoing_it(key: str) -> None:
    for flags, environ in (({"session_key": key}, {}), ({}, {"NETRA_SESSION_KEY": key})):
        with pytest.raises(ConfigError, match="session-key must be 32 bytes") as refused:
            Config.from_sources(flags, environ)
        assert key not in str(refused.value)


def test_the_message_burst_holds_a_full_batch() -> None:
    assert Config(message_burst=MAX_BATCH_MESSAGES).message_burst == MAX_BATCH_MESSAGES
    with pytest.raises(ConfigError, match=f"message-burst must be at least {MAX_BATCH_MESSAGES}"):
        Config.from_sources({}, {"NETRA_MESSAGE_BURST": str(MAX_BATCH_MESSAGES - 1)})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1", "https://api.example.com/v1"])
def test_the_llm_endpoint_is_an_http_url(url: str) -> None:
    assert Config.from_sources({"llm_base_url": url}, {}).llm_base_url == url


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "127.0.0.1:8000", "ws://x/v1"])
def test_an_llm_endpoint_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="llm-base-url must be an http") as refused:
        Config.from_sources({}, {"NETRA_LLM_BASE_URL": url})
    assert url in str(refused.value)


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "10.0.0.0/8,nonsense"])
def test_a_trusted_proxy_that_is_not_a_network_is_refused(value: str) -> None:
    for flags, environ in (
        ({"trusted_proxies": value}, {}),
        ({}, {"NETRA_TRUSTED_PROXIES": value}),
    ):
        with pytest.raises(ConfigError, match=r"trusted-proxies: .* is not an IP address"):
            Config.from_sources(flags, environ)


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/app", "*"])
def test_an_allowed_origin_that_is_not_an_origin_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"allowed-origins: .* is not an origin") as refused:
        Config.from_sources({}, {"NETRA_ALLOWED_ORIGINS": value})
    assert value in str(refused.value)


def test_the_former_name_of_the_handshake_rate_is_still_read() -> None:
    assert Config.from_sources({}, {"NETRA_HANDSHAKE_RATE_PER_IP_S": "7"}).handshake_rate_per_s == 7
    both = {"NETRA_HANDSHAKE_RATE_PER_IP_S": "7", "NETRA_HANDSHAKE_RATE_PER_S": "9"}
    assert Config.from_sources({}, both).handshake_rate_per_s == 9  # the new name wins
    with pytest.raises(ConfigError, match="NETRA_HANDSHAKE_RATE_PER_IP_S"):
        Config.from_sources({}, {"NETRA_HANDSHAKE_RATE_PER_IP_S": "fast"})


def test_agents_is_a_repeatable_flag_whose_values_may_each_hold_several() -> None:
    flags = {"agents": ["weather:AGENTS", "my_app.agents:make, weather:AGENTS"]}
    environ = {"NETRA_AGENTS": "ignored:AGENTS"}  # the flag wins
    config = Config.from_sources(flags, environ)
    assert config.agents == ("weather:AGENTS", "my_app.agents:make")
    assert Config().agents == ()


@pytest.mark.parametrize(
    "entry",
    ["weather", "weather:", ":AGENTS", "weather:AGENTS.more", "my-app:AGENTS", "a..b:X", "a:b:c"],
)
def test_an_agents_entry_that_is_not_module_colon_attribute_is_refused_by_name(entry: str) -> None:
    for flags, environ, source in (
        ({"agents": ["weather:AGENTS", entry]}, {}, "--agents"),
        ({}, {"NETRA_AGENTS": f"weather:AGENTS,{entry}"}, "NETRA_AGENTS"),
    ):
        with pytest.raises(ConfigError) as refused:
            Config.from_sources(flags, environ)
        assert str(refused.value) == (
            f"{source}: {entry!r} is not module:attribute (a module's dotted name, a colon,"
            " then the name of a mapping of agents or of a function that returns one)"
        )
    with pytest.raises(ConfigError, match=f"agents: {entry!r} is not module:attribute"):
        Config(agents=(entry,))  # also when built directly


def test_an_empty_agents_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="NETRA_AGENTS must not be empty"):
        Config.from_sources({}, {"NETRA_AGENTS": " , "})
