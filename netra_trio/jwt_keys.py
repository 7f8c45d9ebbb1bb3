"""The algorithms a token may be signed with, and the keys that verify them.

A token's algorithm decides which kind of key may verify it: HS256/384/512
only the shared secret; RS*, ES* and EdDSA only a public key of the matching
type (and curve), from a PEM file or from a JWKS document, where the token's
``kid`` names it. A public key therefore never serves as an HMAC secret (the
algorithm confusion of an HS256 token "signed" with the RSA key's PEM), a JWKS
document's symmetric keys are never used, and ``none`` is no algorithm here.

Everything here is pure: reading the PEM file and fetching the JWKS document
are the server's (``server/keys.py``, ``server/jwks.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import attrs
import jwt
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from netra_trio.algorithms import HMAC_ALGORITHMS, JWT_ALGORITHMS

MIN_RSA_BITS = 2048
MAX_KID_CHARS = 256
_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1"}

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


class KeysUnavailable(Exception):
    """The key set could not be fetched, so a token cannot be judged now; the
    client may try again. The message names neither the token nor a key."""


class KeySource(Protocol):
    """Where the public keys of a JWKS come from (``server/jwks.py``)."""

    async def key_for(self, kid: str, algorithm: str) -> PublicKey:
        """The key that ``kid`` names, fit for ``algorithm``. Raises
        :class:`netra_trio.errors.AuthError` when there is none, and
        :class:`KeysUnavailable` when the key set cannot be fetched."""
        ...


def fits(key: object, algorithm: str) -> bool:
    """Whether ``key`` may verify a token signed with ``algorithm``."""
    if algorithm.startswith("RS"):
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    if algorithm in _CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _CURVES[algorithm]
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


def describe(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"an RSA key of {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "an Ed25519/Ed448 key"
    return f"a key of type {type(key).__name__}"


def load_public_key(pem: bytes, algorithms: Iterable[str]) -> PublicKey:
    """The public key of a PEM file (a public key or a certificate) that fits
    one of ``algorithms``; ValueError saying what is wrong otherwise."""
    key: object
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError:
            raise ValueError("it holds no PEM public key or certificate") from None
    asymmetric = [a for a in algorithms if a not in HMAC_ALGORITHMS]
    if not any(fits(key, a) for a in asymmetric):
        raise ValueError(
            f"it holds {describe(key)}, which verifies none of {', '.join(asymmetric)}"
            f" (RSA keys need at least {MIN_RSA_BITS} bits)"
        )
    return key  # type: ignore[return-value]  # fits() accepted one of PublicKey's types


@attrs.frozen
class Jwk:
    """One verification key of a JWKS document."""

    key: PublicKey
    algorithm: str | None  # its ``alg`` member, when it names one

    def fits(self, algorithm: str) -> bool:
        return (self.algorithm is None or self.algorithm == algorithm) and fits(self.key, algorithm)


def parse_jwks(document: bytes) -> dict[str, Jwk]:
    """The usable keys of a JWKS document by ``kid``. Keys without a ``kid``,
    for encryption, symmetric (``oct``), private or of a type or size that no
    algorithm here verifies are left out. ValueError when the document is not
    a JWKS."""
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise ValueError("the key set is not JSON") from None
    entries = parsed.get("keys") if isinstance(parsed, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the key set has no 'keys' list")
    keys: dict[str, Jwk] = {}
    for entry in entries:
        jwk = _usable(entry)
        if jwk is not None and entry["kid"] not in keys:
            keys[entry["kid"]] = jwk
    return keys


def _usable(entry: Any) -> Jwk | None:
    if not isinstance(entry, dict):
        return None
    kid, use, alg = entry.get("kid"), entry.get("use", "sig"), entry.get("alg")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS or use != "sig":
        return None
    if entry.get("kty") == "oct" or (alg is not None and alg not in JWT_ALGORITHMS):
        return None
    try:
        key = jwt.PyJWK(entry).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    if not any(fits(key, a) for a in JWT_ALGORITHMS):
        return None  # a private key, a small RSA key, a curve no algorithm here uses
    return Jwk(key, alg)
