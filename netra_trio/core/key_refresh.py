"""When the server fetches the issuer's key set (JWKS) again.

A fetched set is used for ``max_age_s``; after that, the next token that needs
it fetches it again. A token whose ``kid`` the set does not hold also fetches
it again (the issuer may have rotated its keys), but the set is fetched at
most once per ``min_interval_s``, whatever arrives: tokens with made-up
``kid``\\s cannot make the server hammer the issuer. While fetching is not
allowed, a known key of an old set is still used, and an unknown ``kid`` is
refused (401) when the last fetch succeeded, or is "unavailable" (503) when it
failed or none has succeeded yet: the token may be good, and the client should
try again.
"""

from __future__ import annotations

import enum

import attrs


class KeyDecision(enum.Enum):
    USE = "use"  # the cached set holds the key: use it
    FETCH = "fetch"  # fetch the set, then decide again
    UNKNOWN = "unknown"  # the set, fetched successfully, does not hold the key
    UNAVAILABLE = "unavailable"  # no set to judge by: the fetch failed or never ran


@attrs.define
class KeyRefreshPolicy:
    max_age_s: float
    min_interval_s: float
    _fetched_at: float | None = attrs.field(default=None, init=False)
    _attempted_at: float | None = attrs.field(default=None, init=False)
    _failed: bool = attrs.field(default=False, init=False)

    def decide(self, now: float, known: bool) -> KeyDecision:
        fresh = self._fetched_at is not None and now - self._fetched_at < self.max_age_s
        if known and fresh:
            return KeyDecision.USE
        if self._attempted_at is None or now - self._attempted_at >= self.min_interval_s:
            return KeyDecision.FETCH
        return self.after_fetch(known)

    def fetching(self, now: float) -> None:
        """A fetch starts: it counts against the bound even if it never ends."""
        self._attempted_at = now
        self._failed = True  # until it succeeds

    def fetched(self, now: float) -> None:
        self._fetched_at = now
        self._failed = False

    def after_fetch(self, known: bool) -> KeyDecision:
        """The decision once a fetch has ended (or while one may not start):
        never another fetch."""
        if known:
            return KeyDecision.USE
        if self._failed or self._fetched_at is None:
            return KeyDecision.UNAVAILABLE
        return KeyDecision.UNKNOWN
