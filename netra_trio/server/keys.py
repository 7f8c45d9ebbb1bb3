"""The server's credentials, made at start from the configuration: the
authenticator with its keys.

Files are read on a worker thread. A file that cannot be read or used stops
the start with one line (:class:`StartupError`) that names the option, the
path and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import trio

from netra_trio.auth import Authenticator
from netra_trio.config import Config
from netra_trio.errors import StartupError
from netra_trio.jwt_keys import PublicKey, load_public_key
from netra_trio.server.jwks import JwksClient


async def load_authenticator(config: Config) -> Authenticator:
    public_key = None
    if config.jwt_public_key is not None:
        public_key = await trio.to_thread.run_sync(
            _read_public_key, config.jwt_public_key, config.jwt_algorithms
        )
    key_source = None
    if config.jwks_url is not None:
        key_source = JwksClient(
            config.jwks_url,
            max_age_s=config.jwks_cache_s,
            min_interval_s=config.jwks_min_refetch_s,
            timeout_s=config.handshake_timeout_s,
        )
    return Authenticator(
        secret=config.jwt_secret,
        algorithms=config.jwt_algorithms,
        public_key=public_key,
        key_source=key_source,
        audience=config.jwt_audience,
        issuer=config.jwt_issuer,
    )


def _read_public_key(path: str, algorithms: tuple[str, ...]) -> PublicKey:
    pem = _read("jwt-public-key", path)
    try:
        return load_public_key(pem, algorithms)
    except ValueError as exc:
        raise StartupError(f"jwt-public-key {path!r} cannot be used: {exc}") from None


def _read(option: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StartupError(f"{option} {path!r} cannot be read: {exc.strerror or exc}") from None
