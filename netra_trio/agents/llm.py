"""An optional LLM provider: OpenAI-compatible chat completions, streamed.

Configured with ``NETRA_LLM_BASE_URL`` (for example ``http://127.0.0.1:8000/v1``),
``NETRA_LLM_MODEL`` and ``NETRA_LLM_API_KEY``. httpx runs on Trio through
anyio. Every failure (connection refused, HTTP error, malformed stream, time
limit) raises :class:`LLMUnavailable`; agents then fall back to their offline
path and say so in their result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import orjson
import trio

from netra_trio.agents.base import OnDelta


class LLMUnavailable(Exception):
    """The provider could not answer; the message says why (never the API key)."""


@attrs.frozen
class ChatMessage:
    role: str
    content: str


class LLMClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        max_tokens: int = 600,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens

    async def complete(
        self, messages: Sequence[ChatMessage], *, on_delta: OnDelta | None = None
    ) -> str:
        """The assistant's full reply; ``on_delta`` sees each streamed piece."""
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = {
            "model": self.model,
            "stream": True,
            "max_tokens": self.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        pieces: list[str] = []
        failure: LLMUnavailable | None = None
        try:
            with trio.fail_after(self.timeout_s):
                async with (
                    httpx.AsyncClient(timeout=self.timeout_s) as client,
                    client.stream(
                        "POST",
                        f"{self.base_url}/chat/completions",
                        headers=headers,
                        content=orjson.dumps(body),
                    ) as response,
                ):
                    if response.status_code != 200:
                        raise LLMUnavailable(f"provider answered HTTP {response.status_code}")
                    done = False
                    # read to the end even after [DONE]: leaving httpx's stream
                    # iterators unfinished would leave them unclosed
                    async for line in response.aiter_lines():
                        if done:
                            continue
                        try:
                            piece = _delta(line)
                        except LLMUnavailable as exc:
                            failure, done = exc, True
                            continue
                        if piece is None:
                            done = True
                        elif piece:
                            pieces.append(piece)
                            if on_delta is not None:
                                await on_delta(piece)
        except trio.TooSlowError:
            raise LLMUnavailable(f"provider did not finish within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"provider unreachable: {type(exc).__name__}") from None
        if failure is not None:
            raise failure
        text = "".join(pieces).strip()
        if not text:
            raise LLMUnavailable("provider returned no text")
        return text


def _delta(line: str) -> str | None:
    """The text in one server-sent-events line; None at ``[DONE]``."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk: Any = orjson.loads(data)
        content = chunk["choices"][0].get("delta", {}).get("content") or ""
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        raise LLMUnavailable("provider sent a malformed stream") from None
    if not isinstance(content, str):
        raise LLMUnavailable("provider sent a malformed stream")
    return content
