"""A token whose ``nbf`` claim is not a number is refused, like one whose
``exp`` is not (PyJWT's own time checks are off: the authenticator judges the
time claims against its clock)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from netra_trio.auth import Authenticator
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
