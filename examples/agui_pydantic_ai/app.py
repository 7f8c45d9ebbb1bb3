"""An AG-UI agent endpoint made with pydantic-ai, without a language model.

The agent's "model" is a :class:`FunctionModel`: a plain function that streams a
fixed answer, so the example runs offline and behaves the same every time. On
the first turn it thinks, then calls the ``unit_price`` tool with its
arguments streamed in pieces; once the tool has answered, it streams a short
text that quotes the price and the user's last message. pydantic-ai turns that
into AG-UI events (``RUN_STARTED``, ``REASONING_*``, ``TOOL_CALL_*``,
``TEXT_MESSAGE_*``, ``RUN_FINISHED``).

Run it with uvicorn, then point netra-trio at it::

    uvicorn examples.agui_pydantic_ai.app:app --port 9000
    netra-trio serve --agui-agent pricing=http://127.0.0.1:9000/

``POST /`` speaks the current protocol (reasoning as ``REASONING_*``);
``POST /legacy`` the one of AG-UI 0.1.10, whose reasoning is ``THINKING_*``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import (
    AgentInfo,
    DeltaThinkingCalls,
    DeltaThinkingPart,
    DeltaToolCall,
    DeltaToolCalls,
    FunctionModel,
)
from pydantic_ai.ui.ag_ui import AGUIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PRICES = {"gpt-4o": 2.5, "gpt-4o-mini": 0.15}


def _last_user_text(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _tool_returned(messages: list[ModelMessage]) -> ToolReturnPart | None:
    last = messages[-1]
    if isinstance(last, ModelRequest):
        for part in last.parts:
            if isinstance(part, ToolReturnPart):
                return part
    return None


async def scripted_model(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls | DeltaThinkingCalls]:
    """First turn: think, then call ``unit_price``; next turn: answer in text."""
    returned = _tool_returned(messages)
    if returned is None:
        yield {0: DeltaThinkingPart(content="The user asks about prices; ")}
        yield {0: DeltaThinkingPart(content="look up gpt-4o first.")}
        yield {1: DeltaToolCall(name="unit_price", json_args='{"mod', tool_call_id="call-1")}
        yield {1: DeltaToolCall(json_args='el": "gpt-4o"}')}
        return
    question = _last_user_text(messages)
    for piece in ("gpt-4o costs ", f"${returned.content} ", "per million input tokens", "."):
        yield piece
    yield f" (You asked: {question})"


agent = Agent(FunctionModel(stream_function=scripted_model), name="pricing")


@agent.tool_plain
def unit_price(model: str) -> float:
    """The price of a model's input tokens, in dollars per million."""
    return PRICES.get(model, 0.0)


async def current(request: Request) -> Response:
    return await AGUIAdapter.dispatch_request(request, agent=agent)


async def legacy(request: Request) -> Response:
    return await AGUIAdapter.dispatch_request(request, agent=agent, ag_ui_version="0.1.10")


app = Starlette(
    routes=[Route("/", current, methods=["POST"]), Route("/legacy", legacy, methods=["POST"])]
)
