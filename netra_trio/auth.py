"""JWT verification at the handshake (and for ``refresh``): credentials in, a
Principal out.

A token comes as ``Authorization: Bearer TOKEN`` or, for browsers, as the
subprotocol ``bearer.TOKEN`` offered together with ``netra.v1``; exactly one
of them (two headers, or a header and the subprotocol, are refused: which one
would be meant is ambiguous). Its algorithm must be one of the configured ones
and picks its key (``jwt_keys.py``): the shared secret for HS*, the public key
or the JWKS key its ``kid`` names otherwise. Its claims are bounded
(``claims.py``). The clock is injected so expiry is testable; error messages
never contain the token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import jwt

from netra_trio.algorithms import HMAC_ALGORITHMS
from netra_trio.claims import check_claims
from netra_trio.errors import AuthError
from netra_trio.jwt_keys import MAX_KID_CHARS, KeySource, PublicKey, fits

SUBPROTOCOL = "netra.v1"
BEARER_PREFIX = "bearer."


@attrs.frozen
class Principal:
    user_id: str
    expires_at: float  # Unix seconds
    subprotocol: str | None  # what the server selects in its handshake reply


@attrs.frozen
class Authenticator:
    """Verifies tokens. ``secret`` verifies the HS* algorithms; ``public_key``
    (a PEM file's) or ``key_source`` (a JWKS) the others. Only
    :meth:`averify` and :meth:`authenticate` can use a ``key_source``."""

    secret: str | None = attrs.field(default=None, repr=False)
    algorithms: tuple[str, ...] = ("HS256",)
    public_key: PublicKey | None = None
    key_source: KeySource | None = None
    audience: str | None = None
    issuer: str | None = None
    clock: Callable[[], float] = time.time

    async def authenticate(
        self, headers: Sequence[tuple[bytes, bytes]], subprotocols: Sequence[str]
    ) -> Principal:
        token, selected = credentials(headers, subprotocols)
        return Principal(*await self.averify(token), subprotocol=selected)

    async def averify(self, token: str) -> tuple[str, float]:
        """``(user_id, expires_at)`` of a valid token; AuthError otherwise,
        KeysUnavailable when its key set cannot be fetched."""
        algorithm, kid = self._header(token)
        if algorithm in HMAC_ALGORITHMS or self.key_source is None:
            key: object = self._static_key(algorithm)
        elif kid is None:
            raise AuthError("token names no key: its header needs a 'kid'")
        else:
            key = await self.key_source.key_for(kid, algorithm)
        return self._decode(token, algorithm, key)

    def verify(self, token: str) -> tuple[str, float]:
        """:meth:`averify` for an authenticator without a key source."""
        if self.key_source is not None:
            raise RuntimeError("an authenticator with a key set verifies with averify()")
        algorithm, _ = self._header(token)
        return self._decode(token, algorithm, self._static_key(algorithm))

    def _header(self, token: str) -> tuple[str, str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("token is malformed") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str):
            raise AuthError("token header names no algorithm")
        if algorithm.lower() == "none":
            raise AuthError("token algorithm 'none' (an unsigned token) is never accepted")
        if algorithm not in self.algorithms:
            raise AuthError(
                f"token algorithm is not accepted; accepted: {', '.join(self.algorithms)}"
            )
        if kid is not None and (not isinstance(kid, str) or len(kid) > MAX_KID_CHARS):
            raise AuthError(f"token 'kid' must be a string of at most {MAX_KID_CHARS} characters")
        return algorithm, kid

    def _static_key(self, algorithm: str) -> object:
        if algorithm in HMAC_ALGORITHMS:
            if self.secret is None:
                raise AuthError("token algorithm is not accepted: no shared secret is configured")
            return self.secret
        if self.public_key is None or not fits(self.public_key, algorithm):
            raise AuthError("token algorithm does not match the server's public key")
        return self.public_key

    def _decode(self, token: str, algorithm: str, key: Any) -> tuple[str, float]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
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
        return check_claims(claims, self.clock())

    def issue(self, user_id: str, ttl_s: float, *, now: float | None = None) -> str:
        """A token for ``user_id`` signed with the shared secret, with the
        first HS* algorithm of :attr:`algorithms`."""
        algorithm = next((a for a in self.algorithms if a in HMAC_ALGORITHMS), None)
        if self.secret is None or algorithm is None:
            raise RuntimeError("issuing a token needs a shared secret and an HS* algorithm")
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
        return jwt.encode(claims, self.secret, algorithm=algorithm)


def credentials(
    headers: Sequence[tuple[bytes, bytes]], subprotocols: Sequence[str]
) -> tuple[str, str | None]:
    """The token of a handshake and the subprotocol to select; AuthError when
    there is none, or more than one."""
    offered_netra = SUBPROTOCOL in subprotocols
    selected = SUBPROTOCOL if offered_netra else None
    authorization = [value for name, value in headers if name.lower() == b"authorization"]
    bearer = [p for p in subprotocols if p.startswith(BEARER_PREFIX)]
    if len(authorization) > 1:
        raise AuthError("more than one Authorization header: send exactly one credential")
    if authorization and bearer:
        raise AuthError(
            "credentials given twice, as an Authorization header and as a bearer subprotocol:"
            " send exactly one"
        )
    if authorization:
        scheme, _, token = authorization[0].decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization header must be 'Bearer <token>'")
        return token.strip(), selected
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
