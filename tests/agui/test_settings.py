"""``--agui-agent NAME=URL`` and ``NETRA_AGUI_AGENTS``: parsed and checked at config time."""

from __future__ import annotations

from pathlib import Path

import pytest

from netra_trio.agui.agent import agui_agents
from netra_trio.agui.settings import endpoint_for_logs
from netra_trio.config import Config
from netra_trio.errors import ConfigError, StartupError
from netra_trio.server.app import Server
from tests.helpers import make_config
from tests.test_cli import run_cli


def config_error(flags: dict[str, object] | None = None, env: str | None = None) -> str:
    environ = {"NETRA_AGUI_AGENTS": env} if env is not None else {}
    with pytest.raises(ConfigError) as info:
        Config.from_sources(flags, environ)
    return str(info.value)


def test_entries_come_from_repeated_flags_or_one_comma_separated_variable() -> None:
    environ = {"NETRA_AGUI_AGENTS": " a=http://127.0.0.1:9000/ , b.v2=https://x.example/agui,"}
    config = Config.from_sources({}, environ)
    assert config.agui_agents == (
        ("a", "http://127.0.0.1:9000/"),
        ("b.v2", "https://x.example/agui"),
    )
    # a flag holds one entry, so its URL may hold a comma; flags win over the variable
    flags = {"agui_agents": ["only=http://h/run?tags=a,b"]}
    config = Config.from_sources(flags, environ)
    assert config.agui_agents == (("only", "http://h/run?tags=a,b"),)
    assert Config().agui_agents is None
    assert "hunter2" not in repr(Config(agui_agents=(("a", "http://u:hunter2@h/"),)))


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ("helper", "NETRA_AGUI_AGENTS: expected NAME=URL, got 'helper'"),
        (" , ", "NETRA_AGUI_AGENTS must not be empty"),
        ("=http://h/", "'' is not a valid agent name"),
        ("has space=http://h/", "'has space' is not a valid agent name"),
        ("-dash=http://h/", "'-dash' is not a valid agent name"),
        ("x" * 65 + "=http://h/", "is not a valid agent name"),
        ("a=http://h/,a=http://g/", "the name 'a' is given twice"),
        ("a=ftp://h/", "must be http:// or https:// with a host, got 'ftp://h/'"),
        ("a=http:///path", "with a host"),
        ("a=http://h:port/", "with a host"),
        ("a=127.0.0.1:9000", "with a host"),
    ],
)
def test_bad_entries_are_refused_at_config_time(env: str, says: str) -> None:
    assert says in config_error(env=env)


def test_a_refused_entry_never_shows_a_password() -> None:
    message = config_error(env="a=ftp://user:hunter2@h/")
    assert "hunter2" not in message and "ftp://***@h/" in message
    message = config_error({"agui_agents": ["http://user:hunter2@h/"]})
    assert "--agui-agent: expected NAME=URL" in message and "hunter2" not in message


def test_endpoints_are_logged_without_credentials_or_query() -> None:
    assert endpoint_for_logs("https://u:p@h.example:8443/agui?key=k#f") == (
        "https://h.example:8443/agui"
    )
    assert endpoint_for_logs("http://[::1]/x") == "http://[::1]/x"


def test_each_entry_is_an_agent_of_the_server() -> None:
    config = make_config(agui_agents=(("helper", "http://127.0.0.1:9/"), ("other", "http://h/")))
    assert sorted(agui_agents(config)) == ["helper", "other"]
    assert agui_agents(make_config()) == {}


def test_a_name_of_a_built_in_agent_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="agent 'supervisor' is already a built-in agent"):
        Server(make_config(agui_agents=(("supervisor", "http://127.0.0.1:9/"),)))
    result = run_cli(
        "serve",
        "--agui-agent",
        "triage=http://127.0.0.1:9/",
        "--database",
        ":memory:",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "--agui-agent triage: agent 'triage' is already a built-in agent" in result.stderr
    result = run_cli("serve", "--agui-agent", "a=gopher://h/", cwd=tmp_path)
    assert result.returncode == 2 and "agui-agent a: the URL must be http://" in result.stderr
