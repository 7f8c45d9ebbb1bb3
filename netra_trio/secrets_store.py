"""Development secrets (the JWT secret, the session key): generated once,
stored with 0600 permissions.

Used only when none is configured (``--jwt-secret``, ``--session-key`` or their
environment variables), so ``make serve`` works on a fresh machine. Runs
before the event loop starts.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def new_jwt_secret() -> str:
    return secrets.token_urlsafe(48)


def new_session_key() -> str:
    """32 random bytes, base64url-encoded (an AES-256-GCM key)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def load_or_create_secret(path: Path, make: Callable[[], str] = new_jwt_secret) -> tuple[str, bool]:
    """The secret at ``path`` and whether it was just created."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret, True
