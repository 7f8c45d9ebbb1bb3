"""Keys made in the tests: token signing keys (RSA, EC, Ed25519) with their
PEM and JWK forms, a self-signed TLS certificate for 127.0.0.1 and localhost,
and a token forged by hand (any header, any HMAC key)."""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@functools.cache
def rsa_key(bits: int = 2048, n: int = 0) -> rsa.RSAPrivateKey:
    """The ``n``-th RSA key of ``bits`` bits of this test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(curve: str = "P-256", n: int = 0) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1() if curve == "P-256" else ec.SECP384R1())


@functools.cache
def ed_key(n: int = 0) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


KEYS_FOR: dict[str, Any] = {
    "RS256": rsa_key,
    "RS384": rsa_key,
    "RS512": rsa_key,
    "ES256": lambda n=0: ec_key("P-256", n),
    "ES384": lambda n=0: ec_key("P-384", n),
    "EdDSA": ed_key,
}


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk(key: PrivateKey, kid: str, alg: str | None = None) -> dict[str, Any]:
    """The public JWK of ``key``, named ``kid`` (with ``alg`` when given)."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        entry = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        entry = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        entry = jwt.algorithms.OKPAlgorithm.to_jwk(public, as_dict=True)
    entry = {**entry, "kid": kid, "use": "sig"}
    if alg is not None:
        entry["alg"] = alg
    return entry


def signed(
    key: Any,
    algorithm: str,
    *,
    sub: str = "alice",
    ttl_s: float = 600.0,
    kid: str | None = None,
    **claims: Any,
) -> str:
    headers = {"kid": kid} if kid is not None else None
    body = {"sub": sub, "exp": int(time.time() + ttl_s), **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def forged(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token with any header, signed with HMAC-SHA256 under ``hmac_key``
    (what PyJWT refuses to do with a PEM key), or unsigned when None."""

    def part(value: dict[str, Any]) -> bytes:
        return jwt.utils.base64url_encode(json.dumps(value).encode())

    signing_input = part(header) + b"." + part(claims)
    if hmac_key is None:
        return (signing_input + b".").decode()
    signature = hmac.new(hmac_key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


def self_signed_certificate(directory: Path, *, name: str = "server") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
