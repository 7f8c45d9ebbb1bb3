"""The server's credentials, made at start from the configuration: the
authenticator with its keys, and the TLS context.

Files are read on a worker thread. A file that cannot be read or used stops
the start with one line (:class:`StartupError`) that names the option, the
path and what is wrong.
"""

from __future__ import annotations

import ssl
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


async def load_tls_context(config: Config) -> ssl.SSLContext | None:
    """The server side of TLS 1.2 and later, or None when TLS is off."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    return await trio.to_thread.run_sync(tls_context, config.tls_cert, config.tls_key)


def _read_public_key(path: str, algorithms: tuple[str, ...]) -> PublicKey:
    pem = _read("jwt-public-key", path)
    try:
        return load_public_key(pem, algorithms)
    except ValueError as exc:
        raise StartupError(f"jwt-public-key {path!r} cannot be used: {exc}") from None


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    _read("tls-cert", cert)
    _read("tls-key", key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key, password=lambda: _encrypted(key))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise StartupError(
                f"tls-key {key!r} is not the private key of tls-cert {cert!r}"
            ) from None
        raise StartupError(
            f"tls-cert {cert!r} and tls-key {key!r} cannot be used:"
            f" {exc.reason or exc} (both must be PEM; the key unencrypted)"
        ) from None
    return context


def _read(option: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StartupError(f"{option} {path!r} cannot be read: {exc.strerror or exc}") from None


def _encrypted(key: str) -> bytes:
    """Asked for the key's password: there is none to give."""
    raise StartupError(
        f"tls-key {key!r} is encrypted: give it unencrypted (and readable only by the server)"
    )
