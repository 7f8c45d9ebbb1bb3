"""What the sans-IO tests need to see what a package imports: its modules, the
modules that importing them loads (in a fresh interpreter), and the names its
sources import."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

# What importing the modules adds to those loaded at start-up (the interpreter's
# own, and a coverage tracer's when the suite is measured).
_PROBE = """
import json, sys
before = set(sys.modules)
for name in json.loads(sys.argv[1]):
    __import__(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def package_modules(package: ModuleType) -> list[str]:
    """The dotted names of the modules directly in ``package``."""
    directory = Path(package.__path__[0])
    return sorted(
        f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules([str(directory)])
    )


def loaded_by_importing(modules: list[str]) -> list[str]:
    """Every module that importing ``modules`` loads, in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout)
    return loaded


def under(name: str, roots: Iterable[str]) -> bool:
    """Whether the module ``name`` is one of ``roots`` or inside one."""
    return any(name == root or name.startswith(root + ".") for root in roots)


def source_imports(package: ModuleType) -> Iterator[tuple[str, str]]:
    """(file name, imported module) for every import in ``package``'s sources;
    a relative import fails the test."""
    for path in sorted(Path(package.__path__[0]).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.name, alias.name
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                yield path.name, node.module or ""
