"""The AsyncAPI document passes the official AsyncAPI parser (``@asyncapi/parser``,
installed by ``make`` from ``asyncapi_validator/package-lock.json``): the
AsyncAPI 3.0 JSON Schema of ``@asyncapi/specs`` and the parser's own rules.
A broken document fails it, so the check can fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from netra_trio.protocol.asyncapi import document, document_json

VALIDATOR = Path(__file__).resolve().parent / "asyncapi_validator"

# The document is AsyncAPI 3.0.0 on purpose; the parser only informs that 3.1.0 exists.
ALLOWED = {"asyncapi-latest-version"}


def diagnostics(path: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(
            "the AsyncAPI parser is not installed: `make test` installs it"
            " (`make tests/protocol/asyncapi_validator/node_modules/.installed`)"
        )
    done = subprocess.run(
        [node, "validate.mjs", str(path)],
        cwd=VALIDATOR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = orjson.loads(done.stdout)
    return found


def test_the_document_is_valid_asyncapi_3(tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.json"
    path.write_text(document_json())
    found = diagnostics(path)
    assert [d for d in found if d["code"] not in ALLOWED] == []
    assert {d["severity"] for d in found} <= {2}  # information only


def test_a_broken_document_is_refused(tmp_path: Path) -> None:
    doc = document()
    del doc["info"]["version"]
    operation = doc["operations"]["receive_ping"]
    operation["messages"] = [{"$ref": "#/components/messages/server.pong"}]  # not via the channel
    doc["components"]["schemas"]["client.ping"]["properties"]["payload"] = {"type": "nothing"}
    path = tmp_path / "broken.json"
    path.write_bytes(orjson.dumps(doc))
    errors = [d for d in diagnostics(path) if d["severity"] == 0]
    paths = {tuple(d["path"]) for d in errors}
    assert ("info",) in paths, errors
    assert any(p[:2] == ("operations", "receive_ping") for p in paths), errors
    assert any(p[:3] == ("components", "schemas", "client.ping") for p in paths), errors
