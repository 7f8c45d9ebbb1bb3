"""JWT verification at the handshake: credentials in, a Principal out.

A token comes as ``Authorization: Bearer TOKEN`` or, for browsers, as the
subprotocol ``bearer.TOKEN`` offered together with ``netra.v1``. The clock is
injected so expiry is testable; error messages never contain the token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

import attrs
import jwt

from netra_trio.errors import AuthError

SUBPROTOCOL = "netra.v1"
BEARER_PREFIX = "bearer."


@attrs.frozen
class Principal:
    user_id: str
    expires_at: float  # Unix seconds
    subprotocol: str | None  # what the server selects in its handshake reply


@attrs.frozen
class Authenticator:
    secret: str
    algorithm: str = "HS256"
    audience: str | None = None
    issuer: str | None = None
    clock: Callable[[], float] = time.time

    def authenticate(
        self, headers: Sequence[tuple[bytes, bytes]], subprotocols: Sequence[str]
    ) -> Principal:
        token, selected = _credentials(headers, subprotocols)
        return Principal(*self.verify(token), subprotocol=selected)

    def verify(self, token: str) -> tuple[str, float]:
        """``(user_id, expires_at)`` of a valid token; AuthError otherwise."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["exp", "sub"],
                    # time claims are checked below against the injected clock
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the required claim '{exc.claim}'") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token issuer is not accepted") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("token algorithm is not accepted") from None
        except jwt.DecodeError:
            raise AuthError("token is malformed") from None
        except jwt.InvalidTokenError:
            raise AuthError("token is invalid") from None
        sub, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(sub, str) or not sub:
            raise AuthError("token subject must be a non-empty string")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise AuthError("token expiry must be a number")
        now = self.clock()
        if exp <= now:
            raise AuthError("token has expired")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise AuthError("token 'nbf' must be a number")
            if nbf > now:
                raise AuthError("token is not valid yet")
        return sub, float(exp)

    def issue(self, user_id: str, ttl_s: float, *, now: float | None = None) -> str:
        issued = self.clock() if now is None else now
        claims: dict[str, object] = {
            "sub": user_id,
            "iat": int(issued),
            "exp": int(issued + ttl_s),
            "jti": uuid.uuid4().hex,
        }
        if self.audience:
            claims["aud"] = self.audience
        if self.issuer:
            claims["iss"] = self.issuer
        return jwt.encode(claims, self.secret, algorithm=self.algorithm)


def _credentials(
    headers: Sequence[tuple[bytes, bytes]], subprotocols: Sequence[str]
) -> tuple[str, str | None]:
    offered_netra = SUBPROTOCOL in subprotocols
    selected = SUBPROTOCOL if offered_netra else None
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("Authorization header must be 'Bearer <token>'")
            return token.strip(), selected
    bearer = [p for p in subprotocols if p.startswith(BEARER_PREFIX)]
    if bearer:
        if not offered_netra:
            raise AuthError(f"subprotocol bearer authentication requires offering '{SUBPROTOCOL}'")
        if len(bearer) > 1:
            raise AuthError("more than one bearer subprotocol offered")
        token = bearer[0][len(BEARER_PREFIX) :]
        if not token:
            raise AuthError("bearer subprotocol carries no token")
        return token, selected
    raise AuthError(
        "no credentials: send 'Authorization: Bearer <token>' or the 'bearer.<token>' subprotocol"
    )
