"""The issuer's key set (``--jwks-url``): fetched over HTTP(S), cached, and
fetched again as ``core/key_refresh.py`` decides.

The fetch is httpx on Trio (through anyio): it never blocks the event loop, it
is bounded by ``timeout_s`` and the document by ``MAX_DOCUMENT_BYTES``. Only
one fetch runs at a time; the handshakes that need the set meanwhile wait for
it and then decide again, so a burst of tokens with unknown ``kid``\\s costs
at most one fetch. A key that the set holds is found without waiting. A
failed fetch is logged (``jwks_unavailable``) and keeps the previous set.
"""

from __future__ import annotations

import logging

import httpx
import trio

from netra_trio.config import redacted_url
from netra_trio.core.key_refresh import KeyDecision, KeyRefreshPolicy
from netra_trio.errors import AuthError
from netra_trio.jwt_keys import Jwk, KeysUnavailable, PublicKey, parse_jwks
from netra_trio.logs import log_event

MAX_DOCUMENT_BYTES = 1 << 20
_FETCH_ERRORS = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    OSError,
    trio.TooSlowError,
    ValueError,
)


class JwksClient:
    def __init__(
        self, url: str, *, max_age_s: float, min_interval_s: float, timeout_s: float
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._policy = KeyRefreshPolicy(max_age_s, min_interval_s)
        self._keys: dict[str, Jwk] = {}
        self._lock = trio.Lock()

    async def key_for(self, kid: str, algorithm: str) -> PublicKey:
        decision = self._policy.decide(trio.current_time(), kid in self._keys)
        if decision is not KeyDecision.USE:
            async with self._lock:  # after the fetch in progress, if any
                decision = self._policy.decide(trio.current_time(), kid in self._keys)
                if decision is KeyDecision.FETCH:
                    await self._fetch()
                    decision = self._policy.after_fetch(kid in self._keys)
        if decision is KeyDecision.UNAVAILABLE:
            raise KeysUnavailable("the issuer's key set cannot be fetched; try again")
        jwk = self._keys.get(kid)
        if jwk is None:
            raise AuthError("token key ('kid') is not in the issuer's key set")
        if not jwk.fits(algorithm):
            raise AuthError("token algorithm does not match its key")
        return jwk.key

    async def _fetch(self) -> None:
        self._policy.fetching(trio.current_time())
        try:
            with trio.fail_after(self._timeout_s):
                keys = parse_jwks(await self._download())
        except _FETCH_ERRORS as exc:
            reason = "no answer in time" if isinstance(exc, trio.TooSlowError) else str(exc)
            log_event(
                "jwks_unavailable",
                logging.WARNING,
                url=redacted_url(self._url),
                error=reason or type(exc).__name__,
            )
            return
        self._keys = keys
        self._policy.fetched(trio.current_time())
        log_event("jwks_fetched", url=redacted_url(self._url), keys=len(keys))

    async def _download(self) -> bytes:
        async with (
            httpx.AsyncClient(timeout=self._timeout_s) as client,
            client.stream("GET", self._url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise ValueError(f"the issuer answered HTTP {response.status_code}")
            body = bytearray()
            # read to the end (within the time bound): an iterator left
            # unfinished would be left unclosed; keep no more than the bound
            async for chunk in response.aiter_bytes():
                if len(body) <= MAX_DOCUMENT_BYTES:
                    body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"the key set is over {MAX_DOCUMENT_BYTES} bytes")
            return bytes(body)
