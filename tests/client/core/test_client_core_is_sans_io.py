"""The client core imports no trio, no asyncio, no websockets and no sockets,
and no module of ours beyond itself and the client's errors."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import netra_trio.client.core

CORE_DIR = Path(netra_trio.client.core.__path__[0])
CORE_MODULES = sorted(
    f"netra_trio.client.core.{info.name}" for info in pkgutil.iter_modules([str(CORE_DIR)])
)
FORBIDDEN_ROOTS = (
    "trio",
    "trio_websocket",
    "websockets",
    "asyncio",
    "socket",
    "ssl",
    "selectors",
)
# Our modules that run tasks or open sockets.
FORBIDDEN_OURS = (
    "netra_trio.client.trio",
    "netra_trio.client.asyncio",
    "netra_trio.client.frames",
    "netra_trio.client.websocket",
    "netra_trio.server",
)
ALLOWED_OURS = ("netra_trio.client.core", "netra_trio.client.errors")

PROBE = """
import json, sys
before = set(sys.modules)
for name in json.loads(sys.argv[1]):
    __import__(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _forbidden(name: str) -> bool:
    return any(
        name == root or name.startswith(root + ".") for root in FORBIDDEN_ROOTS + FORBIDDEN_OURS
    )


def test_the_client_core_has_its_modules() -> None:
    assert {m.rsplit(".", 1)[1] for m in CORE_MODULES} >= {
        "backoff",
        "decisions",
        "rejection",
        "resume",
        "state",
        "tokens",
        "urls",
    }


def test_importing_the_client_core_does_not_import_trio_or_asyncio() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(CORE_MODULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout)
    assert set(CORE_MODULES) <= set(loaded)
    leaked = sorted(name for name in loaded if _forbidden(name))
    assert leaked == [], f"importing the client core loaded {leaked}"


def test_client_core_sources_import_only_the_core_and_the_errors() -> None:
    for path in sorted(CORE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not _forbidden(name), f"{path.name} imports {name}"
                if name.startswith("netra_trio"):
                    assert name.startswith(ALLOWED_OURS), f"{path.name} imports {name}"
