"""The development JWT secret: generated once, stored with 0600 permissions.

Used only when no secret is configured (``--jwt-secret`` / ``NETRA_JWT_SECRET``),
so ``make serve`` works on a fresh machine. Runs before the event loop starts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(path: Path) -> tuple[str, bool]:
    """The secret at ``path`` and whether it was just created."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret, True
