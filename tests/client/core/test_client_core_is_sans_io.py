"""The client core imports no trio, no asyncio, no websockets and no sockets,
and no module of ours beyond itself and the client's errors."""

from __future__ import annotations

import netra_trio.client.core
from tests.import_probe import loaded_by_importing, package_modules, source_imports, under

CORE_MODULES = package_modules(netra_trio.client.core)
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


def _forbidden(name: str) -> bool:
    return under(name, FORBIDDEN_ROOTS + FORBIDDEN_OURS)


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
    loaded = loaded_by_importing(CORE_MODULES)
    assert set(CORE_MODULES) <= set(loaded)
    leaked = sorted(name for name in loaded if _forbidden(name))
    assert leaked == [], f"importing the client core loaded {leaked}"


def test_client_core_sources_import_only_the_core_and_the_errors() -> None:
    for file, name in source_imports(netra_trio.client.core):
        assert not _forbidden(name), f"{file} imports {name}"
        if name.startswith("netra_trio"):
            assert name.startswith(ALLOWED_OURS), f"{file} imports {name}"
