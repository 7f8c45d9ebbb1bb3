"""What both clients' ``connect`` start from: the sans-IO core of a client of a URL."""

from __future__ import annotations

import random
import time

from netra_trio.client.base import TokenProvider
from netra_trio.client.core.backoff import ReconnectPolicy
from netra_trio.client.core.state import ClientCore
from netra_trio.client.core.urls import parse_url


def new_core(
    url: str,
    token: str | TokenProvider,
    *,
    reconnect: ReconnectPolicy | None,
    refresh_margin_s: float | None,
    last_seq: int | None,
) -> tuple[ClientCore, TokenProvider | None]:
    """The sans-IO core of a client of ``url``, and its token provider (None
    for a plain token): what both shells' ``connect`` start from."""
    provider = None if isinstance(token, str) else token
    core = ClientCore(
        parse_url(url),
        "",
        now=time.time(),
        has_token_provider=provider is not None,
        policy=reconnect,
        refresh_margin_s=refresh_margin_s,
        last_seq=last_seq,
        rng=random.SystemRandom(),
    )
    return core, provider
