"""What a client does when a connection ends or cannot be opened: which close
codes and HTTP statuses are worth another attempt, and which end the client.

- Reconnect after the backoff delay, and resume: close 1001 (shutdown),
  1006 (dropped without a close frame), 1011, 1012-1014, 4002 (heartbeat
  lost), 4008 (slow consumer), 4009 (evicted), any code not named here; HTTP
  5xx other than 503; a TCP connection refused or broken; a timeout.
- Reconnect with a new session: close 4001 (session expired).
- Reconnect with a new token: close 1008 when the token is near or past its
  ``exp`` and a token provider can give another.
- Reconnect after ``Retry-After`` (at least): HTTP 429 and 503.
- Give up: close 1008 otherwise (repeated security violations, abuse: a new
  connection would repeat what the server refused; the server's cooldown
  would refuse it anyway), or without a provider; close 1000, 1002, 1003,
  1007, 1009, 1010 (the server meant it, or this client sent what the server
  cannot take); HTTP 401, 403, 404 and every other 4xx.

Before the first connection has been established every failure ends the
client at once (a wrong URL or token should not hang the caller), and after
``max_attempts`` failed attempts in a row so does any failure.
"""

from __future__ import annotations

import attrs

from netra_trio.client.errors import ClientError

GIVE_UP_CODES = frozenset({1000, 1002, 1003, 1007, 1009, 1010})
SESSION_EXPIRED = 4001
POLICY_VIOLATION = 1008
RETRY_STATUSES = frozenset({429, 503})
EXPIRY_SKEW_S = 5.0  # a 1008 this close to exp (by our clock) counts as the token's expiry


@attrs.frozen
class Reconnect:
    delay_s: float
    new_session: bool = False


@attrs.frozen
class GiveUp:
    error: ClientError


Decision = Reconnect | GiveUp


def status_retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500
