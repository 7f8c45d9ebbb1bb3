"""The sans-IO core imports no trio, no trio-websocket, no sockets and no shell module of ours."""

from __future__ import annotations

import netra_trio.core
from tests.import_probe import loaded_by_importing, package_modules, source_imports, under

CORE_MODULES = package_modules(netra_trio.core)
FORBIDDEN_ROOTS = ("trio", "trio_websocket", "socket", "ssl", "selectors", "asyncio")
# Modules of ours that open sockets or run Trio tasks.
FORBIDDEN_OURS = ("netra_trio.server", "netra_trio.client", "netra_trio.cli", "netra_trio.handlers")


def _forbidden(name: str) -> bool:
    return under(name, FORBIDDEN_ROOTS + FORBIDDEN_OURS)


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
    loaded = loaded_by_importing(CORE_MODULES)
    assert set(CORE_MODULES) <= set(loaded)
    leaked = sorted(name for name in loaded if _forbidden(name))
    # netra_trio/__init__.py runs before any netra_trio.core module: it must not
    # pull the Trio shell in either.
    summary = sorted(
        {".".join(n.split(".")[: 2 if n.startswith("netra_trio") else 1]) for n in leaked}
    )
    assert leaked == [], f"importing the core loaded {len(leaked)} forbidden modules: {summary}"


def test_core_sources_import_only_the_core_and_errors() -> None:
    for file, name in source_imports(netra_trio.core):
        assert not _forbidden(name), f"{file} imports {name}"
        if name.startswith("netra_trio"):
            assert name == "netra_trio.errors" or name.startswith("netra_trio.core"), (
                f"{file} imports {name}"
            )
