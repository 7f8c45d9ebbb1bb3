"""The sans-IO core imports no trio, no trio-websocket, no sockets and no shell module of ours."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import netra_trio.core

CORE_DIR = Path(netra_trio.core.__path__[0])
CORE_MODULES = sorted(
    f"netra_trio.core.{info.name}" for info in pkgutil.iter_modules([str(CORE_DIR)])
)
FORBIDDEN_ROOTS = ("trio", "trio_websocket", "socket", "ssl", "selectors", "asyncio")
# Modules of ours that open sockets or run Trio tasks.
FORBIDDEN_OURS = ("netra_trio.server", "netra_trio.client", "netra_trio.cli", "netra_trio.handlers")

# What importing the core adds to the modules loaded at start-up (the
# interpreter's own, and a coverage tracer's when the suite is measured).
PROBE = """
import json, sys
before = set(sys.modules)
for name in json.loads(sys.argv[1]):
    __import__(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _forbidden(name: str) -> bool:
    roots = FORBIDDEN_ROOTS + FORBIDDEN_OURS
    return any(name == root or name.startswith(root + ".") for root in roots)


def test_core_has_the_expected_modules() -> None:
    expected = {
        "client_address",
        "expiry",
        "handshake",
        "heartbeat",
        "limits",
        "origins",
        "priority",
        "rate",
        "routing",
        "runs",
        "sessions",
        "states",
    }
    assert {m.rsplit(".", 1)[1] for m in CORE_MODULES} >= expected


def test_importing_the_core_does_not_import_trio() -> None:
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
    # netra_trio/__init__.py runs before any netra_trio.core module: it must not
    # pull the Trio shell in either.
    summary = sorted(
        {".".join(n.split(".")[: 2 if n.startswith("netra_trio") else 1]) for n in leaked}
    )
    assert leaked == [], f"importing the core loaded {len(leaked)} forbidden modules: {summary}"


def test_core_sources_import_only_the_core_and_errors() -> None:
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
                    assert name == "netra_trio.errors" or name.startswith("netra_trio.core"), (
                        f"{path.name} imports {name}"
                    )
