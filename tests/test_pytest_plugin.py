"""The pytest plugin as users get it: pytest runs in a fresh directory (with
``pytester``, in a subprocess), the plugin loaded through the installed
package's ``pytest11`` entry point, and the users' tests use its fixtures
against a real server. The example of docs/testing.md is one of those runs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
TIMEOUT_S = 120

# The outer suite's settings (tests/conftest.py) are not the users': the
# subprocess sees only the files written here.
CONFIG = """\
[pytest]
trio_mode = true
filterwarnings = error
"""


def doc_files() -> dict[str, str]:
    """The code blocks of docs/testing.md whose first line is ``# FILENAME``."""
    blocks = re.findall(r"```\w*\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    files = {}
    for block in blocks:
        first, _, rest = block.partition("\n")
        name = re.fullmatch(r"# ([\w.]+\.(?:py|toml))", first)
        if name:
            files[name.group(1)] = rest
    return files


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=TIMEOUT_S)


def test_the_documented_example_passes(pytester: pytest.Pytester) -> None:
    files = doc_files()
    assert set(files) == {"my_agents.py", "pyproject.toml", "test_my_product.py"}
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    tests = len(re.findall(r"^(?:async )?def test_", files["test_my_product.py"], re.M))
    result = run(pytester, "-W", "error")
    result.assert_outcomes(passed=tests)


def test_options_from_the_ini_file_the_command_line_and_markers(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        CONFIG
        + textwrap.dedent("""\
        netra_options =
            max-runs-per-user=2
            message-burst=70
            agui-agent=remote=http://127.0.0.1:9/agui
        """)
    )
    pytester.makepyfile(
        textwrap.dedent("""\
        import pytest

        pytestmark = pytest.mark.netra_options(idle_timeout_s=99.0, message_burst=80)


        async def test_ini_and_command_line(netra_server):
            config = netra_server.server.config
            assert config.max_runs_per_user == 2
            assert config.max_message_bytes == 2048  # --netra-option
            assert config.message_burst == 80  # the module's marker
            assert config.agui_agents == (("remote", "http://127.0.0.1:9/agui"),)
            assert config.host == "127.0.0.1" and netra_server.port > 0
            assert netra_server.database.name == "netra.db"
            assert netra_server.url == f"ws://127.0.0.1:{netra_server.port}/ws"
            assert netra_server.http_url == f"http://127.0.0.1:{netra_server.port}"


        @pytest.mark.netra_options(message_burst=90)
        async def test_the_closest_marker_wins(netra_client, netra_options):
            assert netra_options["message_burst"] == 90
            assert netra_options["idle_timeout_s"] == 99.0
            assert netra_client.established.limits.idle_timeout_s == 99.0


        async def test_another_user_and_the_query(netra_connect, netra_server):
            async with netra_connect("bob", batch="1") as bob:
                assert bob.established.user_id == "bob"
                session = bob.established.session_id
            async with netra_connect("bob", session_id=session) as again:
                assert again.established.resumed is True
            assert len(netra_server.secret) >= 32


        def test_tokens_without_a_server(netra_token, netra_config):
            import jwt

            claims = jwt.decode(netra_token(), netra_config.jwt_secret, algorithms=["HS256"])
            assert claims["sub"] == "alice"
            assert claims["exp"] - claims["iat"] == 3600
        """)
    )
    result = run(pytester, "--netra-option", "max-message-bytes=2048")
    result.assert_outcomes(passed=4)


def test_agents_of_a_registry_given_in_python(pytester: pytest.Pytester) -> None:
    pytester.makeini(CONFIG)
    pytester.makeconftest(
        textwrap.dedent("""\
        import pytest
        from netra_trio.agents import AgentResult
        from netra_trio.agents.base import AgentRegistry


        async def shout(ctx):
            return AgentResult(result={"text": ctx.input_text.upper()}, report="")


        @pytest.fixture
        def netra_agents():
            registry = AgentRegistry()
            registry.register("shout", shout)
            return registry
        """)
    )
    pytester.makepyfile(
        textwrap.dedent("""\
        import pytest
        from netra_trio.client import ProtocolError


        async def test_only_the_given_agents(netra_client):
            events = [event async for event in netra_client.run("hi", agent="shout")]
            assert events[-1].payload.result == {"text": "HI"}
            with pytest.raises(ProtocolError) as refused:
                async for _ in netra_client.run("x", agent="triage"):
                    pass
            assert refused.value.details["agents"] == ["shout"]
        """)
    )
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        ((), "netra_options = max-runs=2", "'max-runs=2' is not NAME=VALUE"),
        ((), "netra_options = max-runs-per-user", "'max-runs-per-user' is not NAME=VALUE"),
        (("--netra-option", "port=70000"), "", "port must be"),
        (("--netra-agents", "not an entry"), "", "is not module:attribute"),
        ((), "netra_options = max-runs-per-user=many", "max_runs_per_user"),
    ],
)
def test_a_bad_option_stops_pytest_with_a_clear_message(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, message: str
) -> None:
    pytester.makeini(CONFIG + ini + "\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*netra-trio: *{message}*"])


def test_a_bad_marker_fails_the_test_that_has_it(pytester: pytest.Pytester) -> None:
    pytester.makeini(CONFIG)
    pytester.makepyfile(
        textwrap.dedent("""\
        import pytest


        @pytest.mark.netra_options(no_such_option=1)
        async def test_unknown_field(netra_server):
            pass


        @pytest.mark.netra_options(port=-1)
        async def test_bad_value(netra_server):
            pass


        @pytest.mark.netra_options(5)
        async def test_positional(netra_server):
            pass


        async def test_unaffected(netra_server):
            pass
        """)
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*netra_options: *unexpected keyword argument 'no_such_option'*",
            "*netra_options: port must be between 0 and 65535, got -1*",
            "*@pytest.mark.netra_options takes Config fields as keywords*",
        ],
        consecutive=False,
    )
