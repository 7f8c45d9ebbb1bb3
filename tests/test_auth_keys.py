"""Public-key tokens: every algorithm of ``--jwt-algorithms`` with its key,
no algorithm outside the list, never ``none``, no algorithm confusion; what a
PEM file and a JWKS document may hold."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from netra_trio.auth import Authenticator
from netra_trio.errors import AuthError
from netra_trio.jwt_keys import load_public_key, parse_jwks
from tests.helpers import SECRET
from tests.signing_keys import (
    KEYS_FOR,
    ec_key,
    ed_key,
    forged,
    jwk,
    public_pem,
    rsa_key,
    self_signed_certificate,
    signed,
)

ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"]


def refusal(auth: Authenticator, token: str) -> str:
    with pytest.raises(AuthError) as info:
        auth.verify(token)
    return str(info.value)


def claims() -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 600}


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_each_algorithm_verifies_with_its_public_key(algorithm: str) -> None:
    key = KEYS_FOR[algorithm]()
    auth = Authenticator(algorithms=(algorithm,), public_key=key.public_key())
    assert auth.verify(signed(key, algorithm))[0] == "alice"
    other = KEYS_FOR[algorithm](n=1)  # the same kind of key, another one
    assert "signature" in refusal(auth, signed(other, algorithm))


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_longer_hmac_algorithms_verify_with_the_secret(algorithm: str) -> None:
    secret = SECRET * 2  # 78 bytes: enough for HS512
    auth = Authenticator(secret=secret, algorithms=(algorithm,))
    assert auth.verify(signed(secret, algorithm))[0] == "alice"


def test_an_algorithm_outside_the_list_is_refused_whatever_the_key() -> None:
    key = rsa_key()
    auth = Authenticator(algorithms=("RS384",), public_key=key.public_key())
    assert "not accepted; accepted: RS384" in refusal(auth, signed(key, "RS256"))
    assert "not accepted" in refusal(auth, signed(SECRET, "HS256"))
    assert auth.verify(signed(key, "RS384"))[0] == "alice"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_always_refused(alg: str) -> None:
    unsigned = forged({"alg": alg, "typ": "JWT"}, claims(), None)
    for auth in (
        Authenticator(secret=SECRET),
        Authenticator(algorithms=("RS256",), public_key=rsa_key().public_key()),
    ):
        message = refusal(auth, unsigned)
        assert "never accepted" in message or "not accepted" in message


def test_an_hs256_token_signed_with_the_public_key_pem_is_refused() -> None:
    """Algorithm confusion: the RSA public key's PEM used as the HMAC secret."""
    key = rsa_key()
    pem = public_pem(key)
    confused = forged({"alg": "HS256", "typ": "JWT"}, claims(), pem)
    # both algorithms accepted: HS256 is verified with the secret only
    both = Authenticator(secret=SECRET, algorithms=("HS256", "RS256"), public_key=key.public_key())
    assert "signature is invalid" in refusal(both, confused)
    assert both.verify(signed(key, "RS256"))[0] == "alice"
    assert both.verify(signed(SECRET, "HS256"))[0] == "alice"
    # only RS256: HS256 is not accepted at all
    rs_only = Authenticator(algorithms=("RS256",), public_key=key.public_key())
    assert "not accepted" in refusal(rs_only, confused)
    # no secret, even if HS256 were listed: the public key never becomes one
    no_secret = Authenticator(algorithms=("HS256", "RS256"), public_key=key.public_key())
    assert "no shared secret" in refusal(no_secret, confused)


def test_a_token_whose_algorithm_does_not_fit_the_key_is_refused() -> None:
    rsa_public = rsa_key().public_key()
    auth = Authenticator(algorithms=("RS256", "ES256"), public_key=rsa_public)
    assert "does not match" in refusal(auth, signed(ec_key(), "ES256"))


def test_a_kid_must_be_a_short_string() -> None:
    key = rsa_key()
    auth = Authenticator(algorithms=("RS256",), public_key=key.public_key())
    assert "'kid'" in refusal(auth, signed(key, "RS256", kid="k" * 257))
    assert auth.verify(signed(key, "RS256", kid="k" * 256))[0] == "alice"


# --------------------------------------------------------------------------------------
# The PEM file
# --------------------------------------------------------------------------------------


def test_a_pem_public_key_or_certificate_is_loaded(tmp_path: Path) -> None:
    assert load_public_key(public_pem(rsa_key()), ["RS256"]) == rsa_key().public_key()
    assert load_public_key(public_pem(ed_key()), ["HS256", "EdDSA"]) == ed_key().public_key()
    cert, _ = self_signed_certificate(tmp_path)  # an EC P-256 key inside
    inside = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    assert load_public_key(cert.read_bytes(), ["ES256"]) == inside


@pytest.mark.parametrize(
    ("pem", "algorithms", "expected"),
    [
        (b"not a key", ["RS256"], "no PEM public key or certificate"),
        (lambda: public_pem(rsa_key(1024)), ["RS256"], "RSA key of 1024 bits"),
        (lambda: public_pem(ec_key("P-256")), ["RS256", "ES384"], "EC key on secp256r1"),
        (lambda: public_pem(ed_key()), ["RS256"], "verifies none of RS256"),
        (
            lambda: rsa_key().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            ["RS256"],
            "no PEM public key",
        ),
    ],
    ids=["garbage", "rsa-1024", "wrong-curve", "wrong-type", "private-key"],
)
def test_an_unusable_pem_file_is_refused_saying_why(
    pem: Any, algorithms: list[str], expected: str
) -> None:
    with pytest.raises(ValueError, match=expected):
        load_public_key(pem() if callable(pem) else pem, algorithms)


# --------------------------------------------------------------------------------------
# The JWKS document
# --------------------------------------------------------------------------------------


def test_a_jwks_document_keeps_only_public_signing_keys_with_a_kid() -> None:
    private_rsa = {**RSAAlgorithm.to_jwk(rsa_key(n=2), as_dict=True), "kid": "private"}
    assert "d" in private_rsa
    no_kid = jwk(rsa_key(), "x")
    del no_kid["kid"]
    document = {
        "keys": [
            jwk(rsa_key(), "rsa", "RS256"),
            jwk(ec_key("P-384"), "ec"),
            jwk(ed_key(), "ed"),
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
            {**jwk(rsa_key(), "for-encryption"), "use": "enc"},
            {**jwk(rsa_key(), "rsa-oaep"), "alg": "RSA-OAEP"},
            jwk(rsa_key(1024), "small"),
            private_rsa,
            no_kid,
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            "not an object",
            jwk(ec_key("P-256"), "rsa"),  # a duplicate kid: the first one stays
        ]
    }
    keys = parse_jwks(orjson.dumps(document))
    assert sorted(keys) == ["ec", "ed", "rsa"]
    assert keys["rsa"].fits("RS256") and not keys["rsa"].fits("RS384")  # its alg says RS256
    assert keys["ec"].fits("ES384") and not keys["ec"].fits("ES256")
    assert keys["ed"].fits("EdDSA")


@pytest.mark.parametrize("document", [b"", b"[]", b"{}", b'{"keys": {}}', b"<html>"])
def test_a_document_that_is_not_a_jwks_is_refused(document: bytes) -> None:
    with pytest.raises(ValueError, match="key set"):
        parse_jwks(document)
