"""When a client's token expires, and when to refresh it.

The expiry is the JWT's ``exp`` claim, read without checking the signature:
the client only schedules by it, the server is the one that judges the
token. A refresh is due a margin before ``exp``: ``refresh_margin_s``, or a
third of the token's lifetime when that is shorter, so a token that lives
seconds is still refreshed before it runs out. A refresh that failed, or
that did not move the expiry later, is tried again after
:data:`RETRY_AFTER_S` (sooner when the token ends sooner), never in a tight
loop. All times are Unix seconds (the clock ``exp`` is written in).
"""

from __future__ import annotations

import base64
import binascii
import json
import math

import attrs

RETRY_AFTER_S = 5.0
MIN_RETRY_S = 0.5


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, or None when the token is not a JWT with a
    finite numeric ``exp`` (the client then never refreshes it on its own)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)


@attrs.define
class TokenClock:
    """The current token and when to replace it.

    ``refresh_margin_s`` None: never refresh on a live connection (a token
    that expires ends the connection with 1008; with a token provider the
    client then reconnects with a new token)."""

    token: str = attrs.field(repr=False)
    obtained_at: float
    refresh_margin_s: float | None = 60.0
    expires_at: float | None = attrs.field(init=False)
    _retry_at: float | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.expires_at = token_expiry(self.token)

    def replace(self, token: str, now: float) -> None:
        """A new token from the provider (before a handshake or a refresh)."""
        self.token, self.obtained_at = token, now
        self.expires_at = token_expiry(token)
        self._retry_at = None

    def margin(self) -> float:
        """How long before ``exp`` the token counts as due for replacement."""
        if self.expires_at is None:
            return 0.0
        lifetime = max(0.0, self.expires_at - self.obtained_at)
        margin = 60.0 if self.refresh_margin_s is None else self.refresh_margin_s
        return min(margin, lifetime / 3)

    def due(self, now: float) -> bool:
        """Whether the token should be replaced before it is used again."""
        return self.expires_at is not None and now >= self.expires_at - self.margin()

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def refresh_at(self) -> float | None:
        """When to send ``refresh`` on the open connection; None: never."""
        if self.refresh_margin_s is None or self.expires_at is None:
            return None
        if self._retry_at is not None:
            return self._retry_at
        return self.expires_at - self.margin()

    def refreshed(self, token: str, expires_at: float, now: float) -> None:
        """The server accepted ``token``; the connection now ends at ``expires_at``."""
        before = self.expires_at
        self.replace(token, now)
        self.expires_at = expires_at
        if before is not None and expires_at <= before:
            self._retry_at = self._retry(now)  # no later than before: try again later

    def refresh_failed(self, now: float) -> None:
        """The refresh was refused or got no answer: try again later."""
        self._retry_at = self._retry(now)

    def _retry(self, now: float) -> float:
        left = math.inf if self.expires_at is None else self.expires_at - now
        return now + min(RETRY_AFTER_S, max(MIN_RETRY_S, left / 2))
