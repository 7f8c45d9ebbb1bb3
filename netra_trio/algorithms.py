"""The JWT algorithms the server can verify, by name (``--jwt-algorithms``).

Names only, so that the configuration can check them without loading the
cryptography: the keys that verify each are ``jwt_keys.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping

JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA")
HMAC_ALGORITHMS: Mapping[str, int] = {"HS256": 32, "HS384": 48, "HS512": 64}
"""The shared-secret algorithms, each with the least length of its secret in bytes."""
