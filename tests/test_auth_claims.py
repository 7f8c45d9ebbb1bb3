"""The claims of a signed token: a ``nbf`` that is not a number is refused,
like an ``exp`` that is not (PyJWT's own time checks are off: the
authenticator judges the time claims against its clock); the subject is
bounded in length and characters; the expiry is finite and at most a year
ahead."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import jwt
import pytest

from netra_trio.auth import Authenticator
from netra_trio.claims import MAX_LIFETIME_S
from netra_trio.errors import AuthError
from tests.helpers import SECRET


@pytest.mark.parametrize("nbf", ["soon", True, [1], {"at": 1}])
def test_a_not_before_that_is_not_a_number_is_refused(nbf: Any) -> None:
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, "nbf": nbf}, SECRET)
    with pytest.raises(AuthError, match="token 'nbf' must be a number"):
        Authenticator(secret=SECRET).verify(token)


def test_a_past_not_before_with_a_fraction_is_accepted() -> None:
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, "nbf": 1.5}, SECRET)
    user, _ = Authenticator(secret=SECRET).verify(token)
    assert user == "alice"


# --------------------------------------------------------------------------------------
# The subject is bounded; the expiry is finite and at most a year ahead
# --------------------------------------------------------------------------------------


def _refusal(claims: dict[str, Any], now: float | None = None) -> str:
    token = jwt.encode(claims, SECRET)
    auth = (
        Authenticator(secret=SECRET)
        if now is None
        else Authenticator(secret=SECRET, clock=lambda: now)
    )
    with pytest.raises(AuthError) as info:
        auth.verify(token)
    return str(info.value)


def _valid(sub: str) -> dict[str, Any]:
    return {"sub": sub, "exp": int(time.time()) + 60}


def test_a_subject_of_255_characters_is_accepted_and_256_refused() -> None:
    assert (
        Authenticator(secret=SECRET).verify(jwt.encode(_valid("é" * 255), SECRET))[0] == "é" * 255
    )
    message = _refusal(_valid("a" * 256))
    assert "at most 255 characters" in message
    assert "got 256" in message
    assert "at most 255 characters" in _refusal(_valid("x" * 10_000))


@pytest.mark.parametrize(
    ("char", "code_point"),
    [
        ("\x00", "U+0000"),  # NUL
        ("\n", "U+000A"),
        ("\r", "U+000D"),
        ("\x1b", "U+001B"),  # ESC: terminal escape sequences
        ("\x7f", "U+007F"),
        ("\x85", "U+0085"),  # NEL, a C1 control
        ("\u202e", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u2066", "U+2066"),  # LEFT-TO-RIGHT ISOLATE
        ("\u200b", "U+200B"),  # ZERO WIDTH SPACE
        ("\u200d", "U+200D"),  # ZERO WIDTH JOINER
        ("\ufeff", "U+FEFF"),  # BOM
        ("\u2028", "U+2028"),  # LINE SEPARATOR
        ("\u2029", "U+2029"),  # PARAGRAPH SEPARATOR
    ],
)
def test_a_subject_with_a_control_or_invisible_character_is_refused(
    char: str, code_point: str
) -> None:
    message = _refusal(_valid(f"ali{char}ce"))
    assert "control or invisible" in message
    assert code_point in message
    assert char not in message  # named, never written


@pytest.mark.parametrize("sub", ["alice", "Алиса", "用户-42", "a b", "bob@example.com", "😀"])
def test_ordinary_subjects_are_accepted(sub: str) -> None:
    assert Authenticator(secret=SECRET).verify(jwt.encode(_valid(sub), SECRET))[0] == sub


NOW = 1_700_000_000.0


def test_an_expiry_up_to_366_days_ahead_is_accepted() -> None:
    token = jwt.encode({"sub": "alice", "exp": NOW + MAX_LIFETIME_S}, SECRET)
    assert Authenticator(secret=SECRET, clock=lambda: NOW).verify(token)[1] == NOW + MAX_LIFETIME_S
    assert MAX_LIFETIME_S == 366 * 86_400


@pytest.mark.parametrize("exp", [NOW + MAX_LIFETIME_S + 1, NOW + 10 * 365 * 86_400, 1e308, 2**63])
def test_an_absurd_expiry_is_refused(exp: float) -> None:
    message = _refusal({"sub": "alice", "exp": exp}, NOW)
    assert "more than 366 days ahead" in message


@pytest.mark.parametrize("literal", ["Infinity", "NaN", "1e999"])
def test_an_expiry_that_is_not_finite_is_refused(literal: str) -> None:
    # PyJWT reads JSON with the json module, which takes these non-standard numbers
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    body = jwt.utils.base64url_encode(f'{{"sub":"alice","exp":{literal}}}'.encode())
    signing_input = header + b"." + body
    signature = jwt.utils.base64url_encode(
        hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    )
    token = (signing_input + b"." + signature).decode()
    with pytest.raises(AuthError, match="finite"):
        Authenticator(secret=SECRET, clock=lambda: NOW).verify(token)
