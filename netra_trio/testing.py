"""The pytest plugin: a real netra-trio server for the tests of code that uses it.

Installed with the package (entry point ``pytest11``), for pytest-trio tests:

- ``netra_server``: a server in the test's nursery, on a free loopback port,
  with a SQLite database in a temporary directory (a :class:`RunningServer`:
  ``url``, ``http_url``, ``secret``, ``token()``, and the ``Server`` itself);
  shut down when the test ends.
- ``netra_token``: ``netra_token(user="alice", ttl_s=3600.0)``, a token the
  server accepts.
- ``netra_client``: a reconnecting Trio client of ``alice``, connected (past
  ``connection_established``); ``netra_connect(user, **query)`` opens more.
- What the server is started with, each overridable in a ``conftest.py``:
  ``netra_options`` (``Config`` fields, from the ini option ``netra_options``,
  ``--netra-option``, ``netra_agents``/``--netra-agents`` and the
  ``netra_options`` marker), ``netra_agents`` (an ``AgentRegistry`` to serve
  instead of the built-in agents), ``netra_secret`` and ``netra_config``.

See docs/testing.md. Nothing here is imported by the server; the server and
the client are imported only when a fixture needs them, so the plugin costs
little in test suites that do not use it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs
import pytest
import trio

from netra_trio.config import OPTIONS, Config
from netra_trio.errors import ConfigError
from netra_trio.secrets_store import new_session_key

if TYPE_CHECKING:
    from netra_trio.agents.base import AgentRegistry
    from netra_trio.client import TrioClient
    from netra_trio.server.app import Server

DEFAULT_USER = "alice"
MARKER = "netra_options"
_OPTIONS_KEY = pytest.StashKey[dict[str, Any]]()
_FIELDS_BY_NAME = {
    (OPTIONS[name].flag or "--" + name.replace("_", "-")).removeprefix("--"): name
    for name in OPTIONS
}


def connect_client(url: str, tokens: Callable[[], str]) -> AbstractAsyncContextManager[TrioClient]:
    """The client that ``netra_client`` and ``netra_connect`` yield: the
    reconnecting Trio client, whose tokens come from ``tokens`` (so it
    refreshes them itself)."""
    from netra_trio.client import connect

    return connect(url, tokens)


@attrs.frozen
class TokenFactory:
    """Signs tokens as the server's configuration expects them (its secret,
    its first HS* algorithm, its audience and issuer)."""

    config: Config

    def __call__(self, user: str = DEFAULT_USER, ttl_s: float = 3600.0) -> str:
        from netra_trio.auth import Authenticator

        authenticator = Authenticator(
            secret=self.config.jwt_secret,
            algorithms=self.config.jwt_algorithms,
            audience=self.config.jwt_audience,
            issuer=self.config.jwt_issuer,
        )
        return authenticator.issue(user, ttl_s)


@attrs.frozen
class RunningServer:
    """What ``netra_server`` gives a test."""

    server: Server
    token: TokenFactory
    database: Path

    @property
    def url(self) -> str:
        """The WebSocket endpoint, ``ws://127.0.0.1:PORT/ws``."""
        return self.server.url

    @property
    def http_url(self) -> str:
        """The base of the HTTP routes on the same port (``/healthz``, ``/readyz``, ``/``)."""
        scheme = "http" if self.server.config.tls_cert is None else "https"
        return f"{scheme}://{self.server.config.host}:{self.server.port}"

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def secret(self) -> str:
        """The shared secret that verifies HS* tokens."""
        secret = self.server.config.jwt_secret
        assert secret is not None  # the fixture always gives one
        return secret


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netra", "netra-trio test server (netra_server)")
    group.addoption(
        "--netra-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an option of `netra-trio serve` for the netra_server fixture (repeatable)",
    )
    group.addoption(
        "--netra-agents",
        action="append",
        default=[],
        metavar="MODULE:ATTRIBUTE",
        help="agents for the netra_server fixture to register, as `serve --agents` (repeatable)",
    )
    parser.addini(
        "netra_options",
        type="linelist",
        default=[],
        help="NAME=VALUE lines: options of `netra-trio serve` for the netra_server fixture",
    )
    parser.addini(
        "netra_agents",
        type="linelist",
        default=[],
        help="MODULE:ATTRIBUTE lines: agents for the netra_server fixture to register",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**fields): Config fields of the netra_server that this test starts",
    )
    lines = [*config.getini("netra_options"), *config.getoption("netra_option")]
    agents = [*config.getini("netra_agents"), *config.getoption("netra_agents")]
    try:
        options = parse_options(lines, agents)
        server_config(options, secret=secrets.token_urlsafe(32), database=":memory:")
    except ConfigError as exc:
        raise pytest.UsageError(f"netra-trio: {exc}") from None
    config.stash[_OPTIONS_KEY] = options


def parse_options(lines: Iterable[str], agents: Iterable[str] = ()) -> dict[str, Any]:
    """``Config`` fields from ``NAME=VALUE`` lines (NAME an option of
    ``netra-trio serve``, without its dashes) and ``module:attribute`` agents,
    each value read as the command reads it."""
    raw: dict[str, Any] = {}
    for line in lines:
        name, equals, value = line.partition("=")
        field = _FIELDS_BY_NAME.get(name.strip().removeprefix("--"))
        if not equals or field is None:
            raise ConfigError(
                f"netra_options: {line!r} is not NAME=VALUE, NAME an option of"
                " `netra-trio serve` (such as max-runs-per-user=5)"
            )
        if OPTIONS[field].repeatable:
            raw.setdefault(field, []).append(value.strip())
        else:
            raw[field] = value.strip()
    entries = list(agents)
    if entries:
        raw.setdefault("agents", []).extend(entries)
    return {
        field: OPTIONS[field].parse(f"netra_options {field}", value) for field, value in raw.items()
    }


@pytest.fixture
def netra_secret() -> str:
    """The shared secret of the test's server: new for each test."""
    return secrets.token_urlsafe(32)


@pytest.fixture
def netra_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``Config`` fields for the server: the ini and command-line options,
    then the ``netra_options`` markers (the closest one wins)."""
    configured: dict[str, Any] = request.config.stash[_OPTIONS_KEY]
    options = dict(configured)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes Config fields as keywords", pytrace=False)
        options.update(marker.kwargs)
    return options


@pytest.fixture
def netra_agents() -> AgentRegistry | None:
    """The agents to serve instead of the built-in ones and ``netra_agents``
    entries; None serves those."""
    return None


@pytest.fixture
def netra_config(
    netra_options: dict[str, Any], netra_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Config:
    """The server's configuration: loopback, a free port, a new SQLite
    database, runs given 1 s to end at shutdown; then ``netra_options``."""
    database = str(tmp_path_factory.mktemp("netra") / "netra.db")
    try:
        return server_config(netra_options, secret=netra_secret, database=database)
    except (ConfigError, TypeError) as exc:
        problem = str(exc)
    pytest.fail(f"netra_options: {problem}", pytrace=False)


def server_config(options: dict[str, Any], *, secret: str, database: str) -> Config:
    """The test server's defaults, then ``options``."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "jwt_secret": secret,
        "session_key": new_session_key(),
        "database": database,
        "shutdown_grace_s": 1.0,
        **options,
    }
    return Config(**values)


@pytest.fixture
def netra_token(netra_config: Config) -> TokenFactory:
    """``netra_token(user="alice", ttl_s=3600.0)``: a token the server accepts."""
    return TokenFactory(netra_config)


@pytest.fixture
async def netra_server(
    nursery: trio.Nursery, netra_config: Config, netra_agents: AgentRegistry | None
) -> AsyncIterator[RunningServer]:
    """A server running in the test's nursery until the test ends, then shut
    down as on SIGTERM (connections closed with 1001)."""
    from netra_trio.server.app import Server

    server = Server(netra_config, agents=netra_agents)
    stopped = trio.Event()

    async def run(task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await server.run(task_status=task_status)
        finally:
            stopped.set()

    await nursery.start(run)
    yield RunningServer(server, TokenFactory(netra_config), Path(netra_config.database))
    server.request_shutdown()
    with trio.move_on_after(netra_config.shutdown_grace_s + netra_config.close_timeout_s + 5):
        await stopped.wait()


ClientFactory = Callable[..., AbstractAsyncContextManager["TrioClient"]]


@pytest.fixture
def netra_connect(netra_server: RunningServer) -> ClientFactory:
    """``async with netra_connect(user="alice", **query) as client``: a
    connected client; ``query`` goes into the URL (``session_id=...``,
    ``batch="1"``)."""

    @asynccontextmanager
    async def connect(user: str = DEFAULT_USER, **query: str) -> AsyncIterator[TrioClient]:
        url = netra_server.url + (f"?{urlencode(query)}" if query else "")
        async with connect_client(url, lambda: netra_server.token(user)) as client:
            yield client

    return connect


@pytest.fixture
async def netra_client(netra_connect: ClientFactory) -> AsyncIterator[TrioClient]:
    """A client of ``alice``, connected to ``netra_server``."""
    async with netra_connect() as client:
        yield client
