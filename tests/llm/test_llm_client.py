"""The LLM client against a stand-in provider on loopback: streaming and every failure."""

from __future__ import annotations

import pytest
import trio

from netra_trio.agents.llm import ChatMessage, LLMClient, LLMUnavailable
from tests.llm.standin import StandIn

PROMPT = [ChatMessage("system", "You are terse."), ChatMessage("user", "How do we cut cost?")]


async def start(nursery: trio.Nursery, **kwargs: object) -> StandIn:
    standin: StandIn = await nursery.start(StandIn(**kwargs).serve)  # type: ignore[arg-type]
    return standin


async def test_streams_the_reply_piece_by_piece(nursery: trio.Nursery) -> None:
    standin = await start(nursery, reply="Use batching for nightly jobs.", chunk_chars=5)
    pieces: list[str] = []

    async def on_delta(piece: str) -> None:
        pieces.append(piece)

    client = LLMClient(standin.base_url, "test-model", api_key="sk-test")
    text = await client.complete(PROMPT, on_delta=on_delta)
    assert text == "Use batching for nightly jobs."
    assert pieces == ["Use b", "atchi", "ng fo", "r nig", "htly ", "jobs."]
    (request,) = standin.requests
    assert request["model"] == "test-model" and request["stream"] is True
    assert request["messages"][1] == {"role": "user", "content": "How do we cut cost?"}
    assert standin.headers[0]["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "HTTP 500"),
        ("malformed", "malformed stream"),
    ],
)
async def test_provider_failures_are_reported(
    nursery: trio.Nursery, mode: str, reason: str
) -> None:
    standin = await start(nursery, mode=mode)
    with pytest.raises(LLMUnavailable, match=reason):
        await LLMClient(standin.base_url, "m").complete(PROMPT)


async def test_a_stalled_provider_times_out(nursery: trio.Nursery) -> None:
    standin = await start(nursery, mode="stall")
    with trio.fail_after(5), pytest.raises(LLMUnavailable, match=r"within 0\.3 s"):
        await LLMClient(standin.base_url, "m", timeout_s=0.3).complete(PROMPT)


async def test_an_unreachable_provider_is_reported() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there now
    with pytest.raises(LLMUnavailable, match="unreachable"):
        await LLMClient(f"http://127.0.0.1:{port}/v1", "m", timeout_s=2).complete(PROMPT)


async def test_an_empty_reply_is_a_failure(nursery: trio.Nursery) -> None:
    standin = await start(nursery, reply="")
    with pytest.raises(LLMUnavailable, match="no text"):
        await LLMClient(standin.base_url, "m").complete(PROMPT)
