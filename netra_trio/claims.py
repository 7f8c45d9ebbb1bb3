"""The claims of a token whose signature holds: who it names, and until when.

``sub`` becomes the user id that every log line, limit and stored row carries,
so it is bounded: 1 to ``MAX_SUBJECT_CHARS`` characters, none of them a
control character (C0, C1, DEL), a format character (bidi overrides and
isolates, zero-width characters, the BOM), a lone surrogate, or a line or
paragraph separator. ``exp`` must be a finite number, in the future, and at
most ``MAX_LIFETIME_S`` ahead: a token that claims to be valid for decades
(or for 1e308 seconds) is refused rather than trusted forever. ``nbf``, when
present, must be a number in the past. Each refusal is an AuthError whose
message names the claim (and a refused character by its code point, never
the character itself).
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, TypeGuard

from netra_trio.errors import AuthError

MAX_SUBJECT_CHARS = 255
MAX_LIFETIME_S = 366 * 86_400.0
"""The furthest ahead a token's ``exp`` may be: one year (and a day)."""
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def check_claims(claims: dict[str, Any], now: float) -> tuple[str, float]:
    """``(user_id, expires_at)`` of a verified token's claims at ``now``."""
    sub = check_subject(claims.get("sub"))
    exp = claims.get("exp")
    if not _is_number(exp):
        raise AuthError("token expiry must be a number")
    if not math.isfinite(exp):
        raise AuthError("token expiry must be a finite number")
    if exp <= now:
        raise AuthError("token has expired")
    if exp - now > MAX_LIFETIME_S:
        raise AuthError(
            f"token expiry is more than {MAX_LIFETIME_S / 86_400:.0f} days ahead;"
            " issue tokens that expire sooner"
        )
    nbf = claims.get("nbf")
    if nbf is not None:
        if not _is_number(nbf):
            raise AuthError("token 'nbf' must be a number")
        if nbf > now:
            raise AuthError("token is not valid yet")
    return sub, float(exp)


def check_subject(sub: object) -> str:
    if not isinstance(sub, str) or not sub:
        raise AuthError("token subject must be a non-empty string")
    if len(sub) > MAX_SUBJECT_CHARS:
        raise AuthError(
            f"token subject must be at most {MAX_SUBJECT_CHARS} characters, got {len(sub):,}"
        )
    for char in sub:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise AuthError(
                "token subject must not contain control or invisible characters;"
                f" it contains U+{ord(char):04X}"
            )
    return sub


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
