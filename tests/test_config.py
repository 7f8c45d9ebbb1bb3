"""Config.from_sources: flags over env over defaults, parsing, errors naming option and value."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from netra_trio.config import OPTIONS, Config
from netra_trio.errors import ConfigError

FIELDS = {field.name: field for field in attrs.fields(Config)}
LONG_SECRET = "s3cr3t-" * 6  # 42 bytes


def flag(name: str) -> str:
    return OPTIONS[name].flag or "--" + name.replace("_", "-")


def env(name: str) -> str:
    return OPTIONS[name].env


def kind(name: str) -> str:
    annotation = str(FIELDS[name].type)
    for word in ("bool", "int", "float", "str"):
        if word in annotation:
            return word
    raise AssertionError(f"unexpected type {annotation} for {name}")


def config_error(flags: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        Config.from_sources(flags, environ)
    return str(info.value)


def assert_refused_from_both_sources(name: str, raw: str) -> None:
    """``raw`` is refused as the environment variable and as the flag, and each
    error names its source and quotes the value."""
    message = config_error({}, {env(name): raw})
    assert env(name) in message
    assert repr(raw) in message
    message = config_error({name: raw}, {})
    assert flag(name) in message
    assert repr(raw) in message


# --------------------------------------------------------------------------------------
# Defaults and precedence
# --------------------------------------------------------------------------------------


def test_defaults_match_the_protocol() -> None:
    config = Config.from_sources()
    assert config == Config() == Config.from_sources({}, {})
    assert config.host == "127.0.0.1"
    assert config.port == 8765
    assert config.jwt_secret is None
    assert config.jwt_algorithms == ("HS256",)
    assert config.database == "netra.db"
    assert config.metrics_port is None
    assert config.max_connections_per_user == 5
    assert config.idle_timeout_s == 1800.0
    assert config.heartbeat_interval_s == 25.0
    assert config.max_message_bytes == 65536
    assert config.max_violations == 5
    # the edge (PROTOCOL.md 1.1)
    assert config.handshake_rate_per_s == 50.0
    assert config.handshake_burst == 200
    assert config.trusted_proxies is None  # none: the peer is the client
    assert config.allowed_origins is None  # any
    assert config.metrics_host == "127.0.0.1"  # /metrics never on every interface by default
    assert config.max_handshakes_per_address == 32


def test_environment_overrides_defaults() -> None:
    config = Config.from_sources({}, {"NETRA_PORT": "9001", "NETRA_HOST": "0.0.0.0"})
    assert (config.host, config.port) == ("0.0.0.0", 9001)


def test_flags_override_environment() -> None:
    config = Config.from_sources(
        {"port": 9002, "idle_timeout_s": "60"},
        {"NETRA_PORT": "9001", "NETRA_IDLE_TIMEOUT_S": "30", "NETRA_HOST": "0.0.0.0"},
    )
    assert config.port == 9002
    assert config.idle_timeout_s == 60.0
    assert config.host == "0.0.0.0"  # no flag given: the environment still applies


def test_a_flag_of_none_falls_back_to_the_environment() -> None:
    config = Config.from_sources({"port": None}, {"NETRA_PORT": "9003"})
    assert config.port == 9003


def test_a_bad_environment_value_is_ignored_when_a_flag_wins() -> None:
    config = Config.from_sources({"port": "9004"}, {"NETRA_PORT": "not-a-port"})
    assert config.port == 9004


def test_unrelated_environment_is_ignored() -> None:
    assert Config.from_sources({}, {"PORT": "1", "NETRA_UNKNOWN": "x", "HOME": "/"}) == Config()


def test_every_option_has_its_environment_variable() -> None:
    assert set(OPTIONS) == set(FIELDS)
    for name in FIELDS:
        assert env(name) == "NETRA_" + name.upper()


# (not those whose default is none or an empty list: there is no value to write)
WITH_DEFAULTS = sorted(n for n, f in FIELDS.items() if f.default not in (None, ()))


@pytest.mark.parametrize("name", WITH_DEFAULTS)
def test_every_option_reads_its_default_back(name: str) -> None:
    default = FIELDS[name].default
    raw = ",".join(default) if isinstance(default, tuple) else str(default)
    assert getattr(Config.from_sources({}, {env(name): raw}), name) == default
    assert getattr(Config.from_sources({name: raw}, {}), name) == default


# --------------------------------------------------------------------------------------
# Parsing each option
# --------------------------------------------------------------------------------------

VALID: list[tuple[str, str, Any]] = [
    ("host", "0.0.0.0", "0.0.0.0"),
    ("host", "  example.org ", "example.org"),
    ("port", "9000", 9000),
    ("port", "0", 0),
    ("port", "65535", 65535),
    ("jwt_secret", LONG_SECRET, LONG_SECRET),
    ("jwt_algorithms", "HS512", ("HS512",)),
    ("jwt_algorithms", " hs256 , HS384,hs256", ("HS256", "HS384")),
    ("jwt_audience", "netra-clients", "netra-clients"),
    ("jwt_issuer", "https://issuer.example", "https://issuer.example"),
    ("secret_file", "/var/lib/netra/secret", "/var/lib/netra/secret"),
    ("database", "/tmp/netra-test.db", "/tmp/netra-test.db"),
    ("metrics_port", "9100", 9100),
    ("metrics_port", "0", 0),
    ("max_connections_per_user", "1", 1),
    ("max_connections_per_user", "12", 12),
    ("idle_timeout_s", "60", 60.0),
    ("idle_timeout_s", "0.5", 0.5),
    ("heartbeat_interval_s", "10", 10.0),
    ("heartbeat_timeout_s", "5", 5.0),
    ("heartbeat_timeout_s", "100", 100.0),  # exactly 4 x the default interval
    ("max_message_bytes", "256", 256),
    ("max_message_bytes", "1048576", 1048576),
    ("max_violations", "1", 1),
    ("queue_max_frames", "16", 16),
    ("queue_max_frames", "64", 64),
    ("queue_max_bytes", "65536", 65536),  # exactly max_message_bytes
    ("queue_max_bytes", "8388608", 8388608),
    ("user_backlog_max_bytes", "4194304", 4194304),  # exactly queue_max_bytes
    ("user_backlog_max_bytes", "33554432", 33554432),
    ("writer_stall_timeout_s", "12.5", 12.5),
    ("handshake_timeout_s", "3", 3.0),
    ("close_timeout_s", "0.25", 0.25),
    ("shutdown_grace_s", "2.5", 2.5),
    ("max_runs_per_user", "2", 2),
    ("max_run_s", "30", 30.0),
    ("log_format", "json", "json"),
    ("log_format", " JSON ", "json"),
    ("log_level", "Warning", "warning"),
    ("log_level", "debug", "debug"),
    ("handshake_rate_per_s", "75", 75.0),
    ("handshake_burst", "500", 500),
    ("max_handshakes_per_address", "8", 8),
    ("metrics_host", "0.0.0.0", "0.0.0.0"),
    ("trusted_proxies", "10.0.0.0/8", ("10.0.0.0/8",)),
    (
        "trusted_proxies",
        " 10.0.0.0/8 , 192.0.2.7,fd00::/8, ",
        ("10.0.0.0/8", "192.0.2.7", "fd00::/8"),
    ),
    ("allowed_origins", "https://app.example.com", ("https://app.example.com",)),
    (
        "allowed_origins",
        "https://app.example.com, http://localhost:5173",
        ("https://app.example.com", "http://localhost:5173"),
    ),
    ("agents", "weather:AGENTS", ("weather:AGENTS",)),
    (
        "agents",
        " my_app.agents:make_agents ,weather:AGENTS,, my_app.agents:make_agents",
        ("my_app.agents:make_agents", "weather:AGENTS"),  # in order, without repeats
    ),
]


@pytest.mark.parametrize(("name", "raw", "expected"), VALID)
def test_option_parses_from_the_environment(name: str, raw: str, expected: Any) -> None:
    value = getattr(Config.from_sources({}, {env(name): raw}), name)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("name", "raw", "expected"), VALID)
def test_option_parses_from_a_flag(name: str, raw: str, expected: Any) -> None:
    value = getattr(Config.from_sources({name: raw}, {}), name)
    assert value == expected
    assert type(value) is type(expected)


def test_flags_may_be_typed_values() -> None:
    config = Config.from_sources({"port": 0, "idle_timeout_s": 30, "metrics_port": 9100}, {})
    assert (config.port, config.idle_timeout_s, config.metrics_port) == (0, 30.0, 9100)
    assert isinstance(config.idle_timeout_s, float)


def test_secret_path() -> None:
    config = Config.from_sources({}, {"NETRA_SECRET_FILE": "/tmp/x/secret"})
    assert str(config.secret_path) == "/tmp/x/secret"


# --------------------------------------------------------------------------------------
# Invalid values: ConfigError naming the option and the value
# --------------------------------------------------------------------------------------

INT_OPTIONS = sorted(n for n in FIELDS if kind(n) == "int")
FLOAT_OPTIONS = sorted(n for n in FIELDS if kind(n) == "float")
TEXT_OPTIONS = sorted(n for n in FIELDS if kind(n) == "str")
POSITIVE_SECONDS = [
    "idle_timeout_s",
    "heartbeat_interval_s",
    "heartbeat_timeout_s",
    "writer_stall_timeout_s",
    "handshake_timeout_s",
    "close_timeout_s",
    "shutdown_grace_s",
    "max_run_s",
]


@pytest.mark.parametrize("name", INT_OPTIONS)
@pytest.mark.parametrize("raw", ["abc", "1.5", "", "12abc", "0x10"])
def test_non_integer_is_refused(name: str, raw: str) -> None:
    assert_refused_from_both_sources(name, raw)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("port", "-1"),
        ("metrics_port", "-1"),
        ("max_connections_per_user", "0"),
        ("max_violations", "0"),
        ("max_message_bytes", "0"),
        ("queue_max_frames", "15"),
        ("queue_max_bytes", "1023"),
        ("user_backlog_max_bytes", "-5"),
    ],
)
def test_integer_below_its_minimum_is_refused(name: str, raw: str) -> None:
    for flags, environ, source in (
        ({name: raw}, {}, flag(name)),
        ({}, {env(name): raw}, env(name)),
    ):
        message = config_error(flags, environ)
        assert source in message
        assert raw in message


@pytest.mark.parametrize("name", FLOAT_OPTIONS)
@pytest.mark.parametrize("raw", ["abc", "", "-1", "-0.5", "inf", "nan", "1s"])
def test_bad_number_of_seconds_is_refused(name: str, raw: str) -> None:
    assert_refused_from_both_sources(name, raw)


@pytest.mark.parametrize("name", POSITIVE_SECONDS)
def test_zero_seconds_is_refused(name: str) -> None:
    message = config_error({}, {env(name): "0"})
    assert env(name) in message
    assert "'0'" in message


@pytest.mark.parametrize("name", TEXT_OPTIONS)
@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_text_is_refused(name: str, raw: str) -> None:
    assert env(name) in config_error({}, {env(name): raw})
    assert flag(name) in config_error({name: raw}, {})


# Checks made on the whole configuration: the message names the option in its flag
# spelling (without the dashes) and the value that was given.
RANGE_ERRORS: list[tuple[str, str]] = [
    ("port", "65536"),
    ("port", "70000"),
    ("metrics_port", "65536"),
    ("max_message_bytes", "255"),
    ("heartbeat_timeout_s", "100.5"),  # over 4 x the default interval of 25 s
    ("queue_max_bytes", "65535"),  # under the default max_message_bytes
    ("user_backlog_max_bytes", "4194303"),  # under the default queue_max_bytes
    ("log_format", "xml"),
    ("log_level", "loud"),
]


@pytest.mark.parametrize(("name", "raw"), RANGE_ERRORS)
def test_value_out_of_range_names_option_and_value(name: str, raw: str) -> None:
    for flags, environ in (({name: raw}, {}), ({}, {env(name): raw})):
        message = config_error(flags, environ)
        assert name.replace("_", "-") in message
        assert raw in message


def test_log_level_value_is_named_whatever_its_case() -> None:
    message = config_error({}, {"NETRA_LOG_LEVEL": "LOUD"})
    assert "log-level" in message
    assert "loud" in message.lower()


def test_cross_checks_use_the_values_from_both_sources() -> None:
    config = Config.from_sources(
        {"heartbeat_timeout_s": "200"}, {"NETRA_HEARTBEAT_INTERVAL_S": "50"}
    )
    assert config.heartbeat_timeout_s == 200.0
    with pytest.raises(ConfigError, match="heartbeat-timeout-s"):
        Config.from_sources({"heartbeat_timeout_s": "201"}, {"NETRA_HEARTBEAT_INTERVAL_S": "50"})
    config = Config.from_sources(
        {}, {"NETRA_MAX_MESSAGE_BYTES": "1024", "NETRA_QUEUE_MAX_BYTES": "1024"}
    )
    assert config.queue_max_bytes == 1024


@pytest.mark.parametrize("secret", ["x", "short-secret", "a" * 31, "é" * 15])
def test_short_jwt_secret_is_refused_without_echoing_it(secret: str) -> None:
    for flags, environ in (({"jwt_secret": secret}, {}), ({}, {"NETRA_JWT_SECRET": secret})):
        message = config_error(flags, environ)
        assert "jwt-secret" in message
        assert "32 bytes" in message
        assert secret not in message


def test_jwt_secret_length_counts_bytes() -> None:
    secret = "é" * 16  # 16 characters, 32 bytes
    assert Config.from_sources({}, {"NETRA_JWT_SECRET": secret}).jwt_secret == secret
    assert Config(jwt_secret="a" * 32).jwt_secret == "a" * 32


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]
