"""Authenticator: JWT verification against an injected clock, and where the token may come from."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import jwt
import pytest

from netra_trio.auth import BEARER_PREFIX, SUBPROTOCOL, Authenticator, Principal
from netra_trio.errors import AuthError
from tests.helpers import SECRET

NOW = 1_700_000_000.0


class Clock:
    """A settable clock, injected into the Authenticator."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def authenticator(clock: Clock | None = None, **kwargs: Any) -> Authenticator:
    return Authenticator(secret=SECRET, clock=clock or Clock(), **kwargs)


def sign(claims: dict[str, Any], *, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def claims(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sub": "alice", "exp": int(NOW) + 600}
    body.update(extra)
    return body


def b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def auth_error(auth: Authenticator, token: str) -> str:
    with pytest.raises(AuthError) as info:
        auth.verify(token)
    message = str(info.value)
    if token:
        assert token not in message
    return message


def header(token: str, scheme: str = "Bearer") -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"{scheme} {token}".encode())]


# --------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------


def test_valid_token_gives_user_and_expiry() -> None:
    assert authenticator().verify(sign(claims())) == ("alice", NOW + 600)


def test_issue_and_verify_with_the_same_clock() -> None:
    clock = Clock()
    auth = authenticator(clock)
    token = auth.issue("bob", ttl_s=60)
    assert auth.verify(token) == ("bob", NOW + 60)
    clock.now = NOW + 59.9
    assert auth.verify(token)[0] == "bob"
    clock.now = NOW + 60
    assert "expired" in auth_error(auth, token)


def test_expiry_follows_the_injected_clock_not_the_wall_clock() -> None:
    clock = Clock(NOW)
    auth = authenticator(clock)
    token = sign(claims(exp=int(NOW) + 10))  # long past by the wall clock
    assert auth.verify(token)[0] == "alice"
    clock.now = NOW + 10
    assert "expired" in auth_error(auth, token)
    clock.now = NOW + 10_000
    assert "expired" in auth_error(auth, token)


def test_a_clock_ahead_of_the_wall_clock_still_verifies_its_own_tokens() -> None:
    # `issue` stamps iat from the injected clock; verification must judge iat (and nbf)
    # by that same clock, not by time.time().
    future = 4_000_000_000.0
    auth = authenticator(Clock(future))
    token = auth.issue("carol", ttl_s=60)
    assert auth.verify(token) == ("carol", future + 60)


def test_not_before_follows_the_injected_clock() -> None:
    clock = Clock(NOW)
    auth = authenticator(clock)
    token = sign(claims(nbf=int(NOW) + 5))
    assert auth_error(auth, token)  # not yet valid at NOW, whatever the wall clock says
    clock.now = NOW + 5
    assert auth.verify(token)[0] == "alice"


def test_fractional_expiry_is_kept() -> None:
    assert authenticator().verify(sign(claims(exp=NOW + 0.5)))[1] == NOW + 0.5


def test_bad_signature() -> None:
    token = sign(claims(), key=SECRET + "-other")
    assert "signature" in auth_error(authenticator(), token)


def test_tampered_payload_fails_the_signature() -> None:
    header_part, _, signature = sign(claims()).split(".")
    forged = f"{header_part}.{b64(claims(sub='mallory'))}.{signature}"
    assert "signature" in auth_error(authenticator(), forged)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "not.a.token",
        "a.b",
        "eyJhbGciOiJIUzI1NiJ9.!!!.sig",
        "Bearer abc.def.ghi",
    ],
)
def test_malformed_token(token: str) -> None:
    message = auth_error(authenticator(), token)
    assert "malformed" in message or "invalid" in message


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_missing_required_claim(missing: str) -> None:
    body = claims()
    del body[missing]
    assert f"'{missing}'" in auth_error(authenticator(), sign(body))


@pytest.mark.parametrize("sub", ["", 5, None, ["alice"]])
def test_subject_must_be_a_non_empty_string(sub: Any) -> None:
    auth_error(authenticator(), sign(claims(sub=sub)))


@pytest.mark.parametrize("exp", ["soon", True, None, [1]])
def test_expiry_must_be_a_number(exp: Any) -> None:
    auth_error(authenticator(), sign(claims(exp=exp)))


def test_audience_and_issuer_when_configured() -> None:
    auth = authenticator(audience="netra", issuer="https://issuer.example")
    good = sign(claims(aud="netra", iss="https://issuer.example"))
    assert auth.verify(good)[0] == "alice"
    assert "audience" in auth_error(auth, sign(claims(aud="other", iss="https://issuer.example")))
    assert "issuer" in auth_error(auth, sign(claims(aud="netra", iss="https://evil.example")))
    assert "'aud'" in auth_error(auth, sign(claims(iss="https://issuer.example")))
    assert "'iss'" in auth_error(auth, sign(claims(aud="netra")))


def test_audience_and_issuer_ignored_when_not_configured() -> None:
    token = sign(claims(aud="anything", iss="anyone"))
    assert authenticator().verify(token)[0] == "alice"


def test_issue_includes_audience_and_issuer_when_configured() -> None:
    auth = authenticator(audience="netra", issuer="iss")
    token = auth.issue("dave", ttl_s=30)
    body = jwt.decode(token, options={"verify_signature": False})
    assert (body["aud"], body["iss"], body["sub"]) == ("netra", "iss", "dave")
    assert auth.verify(token)[0] == "dave"


def test_alg_none_is_refused() -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    assert "algorithm" in auth_error(authenticator(), unsigned)
    via_pyjwt = jwt.encode(claims(), None, algorithm="none")
    assert "algorithm" in auth_error(authenticator(), via_pyjwt)


def test_other_algorithm_is_refused_with_the_same_key() -> None:
    key = SECRET * 2  # long enough for HS512 without a key-length warning
    hs512 = sign(claims(), key=key, algorithm="HS512")
    assert "algorithm" in auth_error(Authenticator(secret=key, clock=Clock()), hs512)
    hs512_only = Authenticator(secret=key, algorithms=("HS512",), clock=Clock())
    assert hs512_only.verify(hs512)[0] == "alice"
    hs256 = sign(claims(), key=key)
    assert "algorithm" in auth_error(hs512_only, hs256)


# --------------------------------------------------------------------------------------
# Where the token comes from
# --------------------------------------------------------------------------------------


async def authenticate(
    headers: Sequence[tuple[bytes, bytes]],
    subprotocols: Sequence[str],
    auth: Authenticator | None = None,
) -> Principal:
    return await (auth or authenticator()).authenticate(headers, subprotocols)


async def refused(headers: Sequence[tuple[bytes, bytes]], subprotocols: Sequence[str]) -> str:
    with pytest.raises(AuthError) as info:
        await authenticate(headers, subprotocols)
    return str(info.value)


def test_subprotocol_constants() -> None:
    assert SUBPROTOCOL == "netra.v1"
    assert BEARER_PREFIX == "bearer."


async def test_authorization_header() -> None:
    principal = await authenticate(header(sign(claims())), [])
    assert principal == Principal(user_id="alice", expires_at=NOW + 600, subprotocol=None)


@pytest.mark.parametrize("name", [b"authorization", b"Authorization", b"AUTHORIZATION"])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_authorization_header_is_case_insensitive(name: bytes, scheme: str) -> None:
    token = sign(claims())
    principal = await authenticate([(name, f"{scheme} {token}".encode())], [])
    assert principal.user_id == "alice"


async def test_authorization_header_with_netra_subprotocol_selects_it() -> None:
    principal = await authenticate(header(sign(claims())), ["netra.v1"])
    assert principal.subprotocol == "netra.v1"


async def test_bearer_subprotocol_with_netra_v1_selects_netra_v1() -> None:
    token = sign(claims())
    principal = await authenticate([], ["netra.v1", f"bearer.{token}"])
    assert principal == Principal(user_id="alice", expires_at=NOW + 600, subprotocol="netra.v1")
    principal = await authenticate([(b"host", b"x")], [f"bearer.{token}", "netra.v1"])
    assert principal.subprotocol == "netra.v1"


async def test_bearer_subprotocol_without_netra_v1_is_refused() -> None:
    token = sign(claims())
    message = await refused([], [f"bearer.{token}"])
    assert "netra.v1" in message
    assert token not in message
    assert token not in await refused([], [f"bearer.{token}", "netra.v2"])


async def test_a_header_and_a_bearer_subprotocol_are_ambiguous() -> None:
    alice, bob = sign(claims()), sign(claims(sub="bob"))
    for subprotocol_token in (bob, alice):  # another user's, or the very same token
        message = await refused(header(alice), ["netra.v1", f"bearer.{subprotocol_token}"])
        assert "credentials given twice" in message
        assert alice not in message and bob not in message


async def test_two_authorization_headers_are_ambiguous() -> None:
    alice, bob = sign(claims()), sign(claims(sub="bob"))
    for second in (bob, alice):
        message = await refused(
            [*header(alice), (b"Authorization", f"Bearer {second}".encode())], []
        )
        assert "more than one Authorization header" in message
        assert alice not in message and bob not in message


async def test_invalid_token_in_the_subprotocol_is_refused() -> None:
    token = sign(claims(), key=SECRET + "-other")
    message = await refused([], ["netra.v1", f"bearer.{token}"])
    assert "signature" in message
    assert token not in message


async def test_no_credentials() -> None:
    assert "no credentials" in await refused([], [])
    assert "no credentials" in await refused([(b"cookie", b"a=b")], ["netra.v1"])


@pytest.mark.parametrize(
    "value", [b"Basic dXNlcjpwYXNz", b"Bearer", b"Bearer   ", b"", b"Token abc.def.ghi"]
)
async def test_malformed_authorization_header(value: bytes) -> None:
    message = await refused([(b"authorization", value)], [])
    assert "Authorization" in message
    secret_part = value.partition(b" ")[2].strip()
    if secret_part:
        assert secret_part.decode() not in message


async def test_empty_bearer_subprotocol() -> None:
    assert "no token" in await refused([], ["netra.v1", "bearer."])


async def test_two_bearer_subprotocols_are_refused() -> None:
    one, two = sign(claims()), sign(claims(sub="bob"))
    message = await refused([], ["netra.v1", f"bearer.{one}", f"bearer.{two}"])
    assert one not in message and two not in message


# --------------------------------------------------------------------------------------
# No message ever contains the token
# --------------------------------------------------------------------------------------

LEAK_CASES: list[str] = [
    sign(claims(exp=int(NOW) - 1)),
    sign(claims(), key=SECRET + "-other"),
    sign({"sub": "alice"}),
    sign({"exp": int(NOW) + 60}),
    sign(claims(sub="")),
    sign(claims(exp="later")),
    "this-is-a-malformed-token-0123456789",
    "aaaa.bbbb.cccc",
    f"{b64({'alg': 'none'})}.{b64(claims())}.",
]


@pytest.mark.parametrize("token", LEAK_CASES)
async def test_errors_never_contain_the_token(token: str) -> None:
    auth = authenticator(audience=None)
    auth_error(auth, token)
    for headers, subprotocols in (
        (header(token), ["netra.v1"]),
        ([], ["netra.v1", f"bearer.{token}"]),
        ([], [f"bearer.{token}"]),
    ):
        with pytest.raises(AuthError) as info:
            await auth.authenticate(headers, subprotocols)
        assert token not in str(info.value)
        assert token not in repr(info.value)
