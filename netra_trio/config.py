"""Server configuration: one frozen attrs class, built from flags and the environment.

``Config.from_sources(flags, environ)`` takes plain mappings, so tests pass
dicts. A flag wins over its environment variable, which wins over the default.
Every bad value raises :class:`ConfigError` naming the option and the value.

(Long, as the option table is: one field, one parser and one environment
variable per option, kept in one place so that flags, the environment and
the checks cannot drift apart.)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from netra_trio.agui import settings as agui
from netra_trio.algorithms import HMAC_ALGORITHMS, JWT_ALGORITHMS
from netra_trio.core.client_address import TrustedProxies
from netra_trio.core.limits import MAX_BATCH_MESSAGES
from netra_trio.core.origins import OriginPolicy
from netra_trio.errors import ConfigError
from netra_trio.storage.opening import database_kind

_LOG_FORMATS = ("text", "json")
_LOG_LEVELS = ("debug", "info", "warning", "error")
_ALGORITHMS_BY_LOWER = {name.lower(): name for name in JWT_ALGORITHMS}


@attrs.frozen(kw_only=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8765
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_public_key: str | None = None  # a PEM file
    jwks_url: str | None = attrs.field(default=None, repr=False)  # a URL may hold a password
    jwks_cache_s: float = 300.0
    jwks_min_refetch_s: float = 10.0
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    secret_file: str = ".netra/jwt-secret"
    session_key: str | None = attrs.field(default=None, repr=False)
    session_key_file: str = ".netra/session-key"
    max_sessions_per_user: int = 5
    event_retention_count: int = 10_000
    event_retention_s: float = 86_400.0
    message_rate_per_s: float = 20.0
    message_burst: int = 60
    abuse_limit: int = 20
    abuse_cooldown_s: float = 10.0
    handshake_rate_per_s: float = 50.0
    handshake_burst: int = 200
    max_handshakes_per_address: int = 32
    trusted_proxies: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] | None = None
    database: str = attrs.field(default="netra.db", repr=False)  # a URL may hold a password
    redis_url: str | None = attrs.field(default=None, repr=False)
    workers: int = 1
    database_busy_timeout_s: float = 5.0
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    max_connections_per_user: int = 5
    idle_timeout_s: float = 1800.0
    heartbeat_interval_s: float = 25.0
    heartbeat_timeout_s: float = 20.0
    max_message_bytes: int = 65536
    max_violations: int = 5
    queue_max_frames: int = 2048
    queue_max_bytes: int = 4 * 1024 * 1024
    user_backlog_max_bytes: int = 12 * 1024 * 1024
    writer_stall_timeout_s: float = 30.0
    handshake_timeout_s: float = 10.0
    close_timeout_s: float = 5.0
    shutdown_grace_s: float = 10.0
    max_runs_per_user: int = 3
    max_run_s: float = 600.0
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = attrs.field(default=None, repr=False)
    llm_timeout_s: float = 20.0
    # AG-UI agents (docs/agui.md): NAME=URL entries, and the bounds of each run's stream
    # NAME=URL pairs (URLs may hold secrets)
    agui_agents: tuple[tuple[str, str], ...] | None = attrs.field(default=None, repr=False)
    agui_connect_timeout_s: float = agui.CONNECT_TIMEOUT_S
    agui_first_event_timeout_s: float = agui.FIRST_EVENT_TIMEOUT_S
    agui_idle_timeout_s: float = agui.IDLE_TIMEOUT_S
    agui_max_event_bytes: int = agui.MAX_EVENT_BYTES
    agui_max_tool_args_bytes: int = agui.MAX_TOOL_ARGS_BYTES
    log_format: str = "text"
    log_level: str = "info"
    tls_cert: str | None = None
    tls_key: str | None = None
    agents: tuple[str, ...] = ()  # module:attribute entries (agents/plugins.py)
    web_ui: bool = True  # GET / and /static/ on the main port (server/web_page.py)

    @classmethod
    def from_sources(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Config:
        flags = flags or {}
        environ = environ or {}
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            option = OPTIONS[field.name]
            raw = flags.get(field.name)
            source = option.flag or f"--{field.name.replace('_', '-')}"
            for env in (option.env, *option.legacy_env):
                if raw is None and env in environ:
                    raw, source = environ[env], env
            if raw is None:
                continue
            values[field.name] = option.parse(source, raw)
        return cls(**values)

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics-port must be between 0 and 65535, got {self.metrics_port}")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < 32:
            raise ConfigError("jwt-secret must be at least 32 bytes (HS256 needs a 256-bit key)")
        self._check_keys()
        if self.agents:
            _agent_entries("agents", self.agents)  # also when built directly
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls-cert and tls-key go together: give both, or neither")
        if self.session_key is not None and len(self.session_key_bytes or b"") != 32:
            raise ConfigError("session-key must be 32 bytes, base64url-encoded")
        if self.message_burst < MAX_BATCH_MESSAGES:
            raise ConfigError(
                f"message-burst must be at least {MAX_BATCH_MESSAGES} (a full batch),"
                f" got {self.message_burst}"
            )
        if self.max_message_bytes < 256:
            raise ConfigError(
                f"max-message-bytes must be at least 256, got {self.max_message_bytes}"
            )
        if self.heartbeat_timeout_s > self.heartbeat_interval_s * 4:
            raise ConfigError(
                f"heartbeat-timeout-s must be at most 4 x heartbeat-interval-s"
                f" ({self.heartbeat_interval_s * 4:g}), got {self.heartbeat_timeout_s:g}"
            )
        if self.queue_max_bytes < self.max_message_bytes:
            raise ConfigError(
                f"queue-max-bytes must be at least max-message-bytes ({self.max_message_bytes}),"
                f" got {self.queue_max_bytes}"
            )
        if self.user_backlog_max_bytes < self.queue_max_bytes:
            raise ConfigError(
                f"user-backlog-max-bytes must be at least queue-max-bytes ({self.queue_max_bytes}),"
                f" got {self.user_backlog_max_bytes}"
            )
        try:
            TrustedProxies(self.trusted_proxies or ())
        except ValueError as exc:
            raise ConfigError(f"trusted-proxies: {exc}") from None
        try:
            OriginPolicy(self.allowed_origins)
        except ValueError as exc:
            raise ConfigError(f"allowed-origins: {exc}") from None
        try:
            database_kind(self.database)
        except ValueError as exc:
            raise ConfigError(f"{exc}, got {redacted_url(self.database)!r}") from None
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigError(
                "redis-url must be a redis://, rediss:// or unix:// URL,"
                f" got {redacted_url(self.redis_url)!r}"
            )
        if self.workers > 1 and self.redis_url is None:
            raise ConfigError(
                f"--workers {self.workers} needs --redis-url: worker processes are one cluster,"
                " which shares connections, limits and events through Redis"
            )
        if self.workers > 1 and self.metrics_port and self.metrics_port + self.workers - 1 > 65535:
            raise ConfigError(
                f"metrics-port + workers - 1 must be at most 65535 (worker i serves metrics on"
                f" metrics-port + i), got {self.metrics_port + self.workers - 1}"
            )
        if self.llm_base_url is not None and not self.llm_base_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(f"llm-base-url must be an http(s) URL, got {self.llm_base_url!r}")
        agui.check_agui_agents(self.agui_agents or ())
        if self.log_format not in _LOG_FORMATS:
            raise ConfigError(
                f"log-format must be one of {', '.join(_LOG_FORMATS)}, got {self.log_format!r}"
            )
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(
                f"log-level must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}"
            )

    def _check_keys(self) -> None:
        _jwt_algorithms("jwt-algorithms", self.jwt_algorithms)  # also when built directly
        asymmetric = [a for a in self.jwt_algorithms if a not in HMAC_ALGORITHMS]
        if self.jwt_public_key is not None and self.jwks_url is not None:
            raise ConfigError("give jwt-public-key or jwks-url, not both")
        if asymmetric and self.jwt_public_key is None and self.jwks_url is None:
            raise ConfigError(
                f"jwt-algorithms lists {', '.join(asymmetric)}, which needs its public key:"
                " give jwt-public-key (a PEM file) or jwks-url"
            )
        if not asymmetric and (self.jwt_public_key is not None or self.jwks_url is not None):
            raise ConfigError(
                "jwt-public-key and jwks-url verify RS*, ES* or EdDSA tokens:"
                f" add one of them to jwt-algorithms (now {','.join(self.jwt_algorithms)})"
            )
        if self.jwks_url is not None and not self.jwks_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"jwks-url must be an http(s) URL, got {redacted_url(self.jwks_url)!r}"
            )
        if self.jwt_secret is not None:
            for algorithm in self.jwt_algorithms:
                needed = HMAC_ALGORITHMS.get(algorithm, 0)
                if len(self.jwt_secret.encode()) < needed:
                    raise ConfigError(f"jwt-secret must be at least {needed} bytes for {algorithm}")

    @property
    def uses_secret(self) -> bool:
        """Whether tokens signed with the shared secret (HS*) are accepted."""
        return any(a in HMAC_ALGORITHMS for a in self.jwt_algorithms)

    @property
    def secret_path(self) -> Path:
        return Path(self.secret_file)

    @property
    def session_key_bytes(self) -> bytes | None:
        if self.session_key is None:
            return None
        try:
            return base64.urlsafe_b64decode(self.session_key + "=" * (-len(self.session_key) % 4))
        except (binascii.Error, ValueError):
            return b""


def _int(minimum: int) -> Callable[[str, Any], int]:
    def parse(source: str, raw: Any) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{source} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{source} must be at least {minimum}, got {value}")
        return value

    return parse


def _seconds(source: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{source} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{source} must be a positive number of seconds, got {raw!r}")
    return value


def _text(source: str, raw: Any) -> str:
    value = str(raw).strip()
    if not value:
        raise ConfigError(f"{source} must not be empty")
    return value


def _lower(source: str, raw: Any) -> str:
    return _text(source, raw).lower()


def _on_off(source: str, raw: Any) -> bool:
    """1/0, true/false, yes/no or on/off (a flag that switches off passes False)."""
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{source} must be 1 or 0 (or true or false), got {raw!r}")


def _list(source: str, raw: Any) -> tuple[str, ...]:
    """Comma-separated values (or a sequence of them), each stripped."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    values = tuple(str(part).strip() for part in parts if str(part).strip())
    if not values:
        raise ConfigError(f"{source} must not be empty")
    return values


def _jwt_algorithms(source: str, raw: Any) -> tuple[str, ...]:
    """A comma-separated list (or a sequence) of algorithm names, in any case."""
    names: list[str] = []
    for name in _list(source, raw):
        canonical = _ALGORITHMS_BY_LOWER.get(name.lower())
        if canonical is None:
            raise ConfigError(
                f"{source}: {name!r} is not an algorithm this server verifies;"
                f" choose from {', '.join(JWT_ALGORITHMS)} (never 'none'), got {raw!r}"
            )
        if canonical not in names:
            names.append(canonical)
    return tuple(names)


def _agent_entries(source: str, raw: Any) -> tuple[str, ...]:
    """``module:attribute`` entries, comma-separated (or a sequence of them, a
    repeated flag, each of which may hold several), without repeats. Only the
    form is checked here; the import happens at start."""
    parts = [raw] if isinstance(raw, str) else list(raw)
    entries: list[str] = []
    for entry in _list(source, ",".join(str(part) for part in parts)):
        module, colon, attribute = entry.partition(":")
        if not (colon and attribute.isidentifier() and _is_dotted_name(module)):
            raise ConfigError(
                f"{source}: {entry!r} is not module:attribute (a module's dotted name, a colon,"
                " then the name of a mapping of agents or of a function that returns one)"
            )
        if entry not in entries:
            entries.append(entry)
    return tuple(entries)


def _is_dotted_name(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


@attrs.frozen
class _Option:
    env: str
    parse: Callable[[str, Any], Any]
    legacy_env: tuple[str, ...] = ()  # read when ``env`` is not set
    repeatable: bool = False  # the flag may be given several times (a list of values)
    flag: str | None = None  # a flag of another name than --field-name (--agui-agent)
    const: Any = None  # not None: the flag takes no value and gives this one (--no-web-ui)


OPTIONS: dict[str, _Option] = {
    "host": _Option("NETRA_HOST", _text),
    "port": _Option("NETRA_PORT", _int(0)),
    "jwt_secret": _Option("NETRA_JWT_SECRET", _text),
    "jwt_algorithms": _Option("NETRA_JWT_ALGORITHMS", _jwt_algorithms),
    "jwt_public_key": _Option("NETRA_JWT_PUBLIC_KEY", _text),
    "jwks_url": _Option("NETRA_JWKS_URL", _text),
    "jwks_cache_s": _Option("NETRA_JWKS_CACHE_S", _seconds),
    "jwks_min_refetch_s": _Option("NETRA_JWKS_MIN_REFETCH_S", _seconds),
    "jwt_audience": _Option("NETRA_JWT_AUDIENCE", _text),
    "jwt_issuer": _Option("NETRA_JWT_ISSUER", _text),
    "secret_file": _Option("NETRA_SECRET_FILE", _text),
    "session_key": _Option("NETRA_SESSION_KEY", _text),
    "session_key_file": _Option("NETRA_SESSION_KEY_FILE", _text),
    "max_sessions_per_user": _Option("NETRA_MAX_SESSIONS_PER_USER", _int(1)),
    "event_retention_count": _Option("NETRA_EVENT_RETENTION_COUNT", _int(1)),
    "event_retention_s": _Option("NETRA_EVENT_RETENTION_S", _seconds),
    "message_rate_per_s": _Option("NETRA_MESSAGE_RATE_PER_S", _seconds),
    "message_burst": _Option("NETRA_MESSAGE_BURST", _int(1)),
    "abuse_limit": _Option("NETRA_ABUSE_LIMIT", _int(1)),
    "abuse_cooldown_s": _Option("NETRA_ABUSE_COOLDOWN_S", _seconds),
    "handshake_rate_per_s": _Option(
        "NETRA_HANDSHAKE_RATE_PER_S", _seconds, legacy_env=("NETRA_HANDSHAKE_RATE_PER_IP_S",)
    ),
    "handshake_burst": _Option("NETRA_HANDSHAKE_BURST", _int(1)),
    "max_handshakes_per_address": _Option("NETRA_MAX_HANDSHAKES_PER_ADDRESS", _int(1)),
    "trusted_proxies": _Option("NETRA_TRUSTED_PROXIES", _list),
    "allowed_origins": _Option("NETRA_ALLOWED_ORIGINS", _list),
    "database": _Option("NETRA_DATABASE", _text),
    "redis_url": _Option("NETRA_REDIS_URL", _text),
    "workers": _Option("NETRA_WORKERS", _int(1)),
    "database_busy_timeout_s": _Option("NETRA_DATABASE_BUSY_TIMEOUT_S", _seconds),
    "metrics_port": _Option("NETRA_METRICS_PORT", _int(0)),
    "metrics_host": _Option("NETRA_METRICS_HOST", _text),
    "max_connections_per_user": _Option("NETRA_MAX_CONNECTIONS_PER_USER", _int(1)),
    "idle_timeout_s": _Option("NETRA_IDLE_TIMEOUT_S", _seconds),
    "heartbeat_interval_s": _Option("NETRA_HEARTBEAT_INTERVAL_S", _seconds),
    "heartbeat_timeout_s": _Option("NETRA_HEARTBEAT_TIMEOUT_S", _seconds),
    "max_message_bytes": _Option("NETRA_MAX_MESSAGE_BYTES", _int(1)),
    "max_violations": _Option("NETRA_MAX_VIOLATIONS", _int(1)),
    "queue_max_frames": _Option("NETRA_QUEUE_MAX_FRAMES", _int(16)),
    "queue_max_bytes": _Option("NETRA_QUEUE_MAX_BYTES", _int(1024)),
    "user_backlog_max_bytes": _Option("NETRA_USER_BACKLOG_MAX_BYTES", _int(1024)),
    "writer_stall_timeout_s": _Option("NETRA_WRITER_STALL_TIMEOUT_S", _seconds),
    "handshake_timeout_s": _Option("NETRA_HANDSHAKE_TIMEOUT_S", _seconds),
    "close_timeout_s": _Option("NETRA_CLOSE_TIMEOUT_S", _seconds),
    "shutdown_grace_s": _Option("NETRA_SHUTDOWN_GRACE_S", _seconds),
    "max_runs_per_user": _Option("NETRA_MAX_RUNS_PER_USER", _int(1)),
    "max_run_s": _Option("NETRA_MAX_RUN_S", _seconds),
    "llm_base_url": _Option("NETRA_LLM_BASE_URL", _text),
    "llm_model": _Option("NETRA_LLM_MODEL", _text),
    "llm_api_key": _Option("NETRA_LLM_API_KEY", _text),
    "llm_timeout_s": _Option("NETRA_LLM_TIMEOUT_S", _seconds),
    "agui_agents": _Option(
        "NETRA_AGUI_AGENTS", agui.parse_agui_agents, flag="--agui-agent", repeatable=True
    ),
    "agui_connect_timeout_s": _Option("NETRA_AGUI_CONNECT_TIMEOUT_S", _seconds),
    "agui_first_event_timeout_s": _Option("NETRA_AGUI_FIRST_EVENT_TIMEOUT_S", _seconds),
    "agui_idle_timeout_s": _Option("NETRA_AGUI_IDLE_TIMEOUT_S", _seconds),
    "agui_max_event_bytes": _Option("NETRA_AGUI_MAX_EVENT_BYTES", _int(1024)),
    "agui_max_tool_args_bytes": _Option("NETRA_AGUI_MAX_TOOL_ARGS_BYTES", _int(1024)),
    "log_format": _Option("NETRA_LOG_FORMAT", _lower),
    "log_level": _Option("NETRA_LOG_LEVEL", _lower),
    "tls_cert": _Option("NETRA_TLS_CERT", _text),
    "tls_key": _Option("NETRA_TLS_KEY", _text),
    "agents": _Option("NETRA_AGENTS", _agent_entries, repeatable=True),
    "web_ui": _Option("NETRA_WEB_UI", _on_off, flag="--no-web-ui", const=False),
}


def redacted_url(url: str) -> str:
    """``url`` with its password (if any) replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
