"""A real AG-UI endpoint on loopback: an ASGI app under hypercorn's Trio worker.

Each path serves a :class:`Script`: AG-UI events made with the official SDK
(``ag_ui.core``'s event classes, encoded by ``ag_ui.encoder.EventEncoder``),
and, to misbehave on purpose, raw bytes, an HTTP error status, another
content type, a :data:`HOLD` that keeps the response open until the client
goes away, or a ``trio.Event`` to wait for. Every request's JSON body is
recorded, and ``hung_up`` is set when a client closes a request whose
response was still open.

AG-UI 1.0 dropped the ``THINKING_*`` events that earlier producers still send;
their 0.x shapes are declared here on the SDK's ``BaseEvent`` (as pydantic-ai
does for its older peers), so they are encoded by the SDK all the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

import attrs
import orjson
import trio
from ag_ui.core import BaseEvent
from ag_ui.encoder import EventEncoder
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ThinkingStartEvent(BaseEvent):
    type: Literal["THINKING_START"] = "THINKING_START"
    title: str | None = None


class ThinkingTextMessageStartEvent(BaseEvent):
    type: Literal["THINKING_TEXT_MESSAGE_START"] = "THINKING_TEXT_MESSAGE_START"


class ThinkingTextMessageContentEvent(BaseEvent):
    type: Literal["THINKING_TEXT_MESSAGE_CONTENT"] = "THINKING_TEXT_MESSAGE_CONTENT"
    delta: str


class ThinkingTextMessageEndEvent(BaseEvent):
    type: Literal["THINKING_TEXT_MESSAGE_END"] = "THINKING_TEXT_MESSAGE_END"


class ThinkingEndEvent(BaseEvent):
    type: Literal["THINKING_END"] = "THINKING_END"


class FutureEvent(BaseEvent):
    """An event of a type that the server does not know (as a later protocol's would be)."""

    type: Literal["SOMETHING_NEW"] = "SOMETHING_NEW"
    detail: str = ""


HOLD = "hold"  # keep the response open until the client goes away
Step = BaseEvent | bytes | trio.Event | Literal["hold"]  # an Event: go on once it is set


@attrs.define
class Script:
    steps: list[Step] = attrs.Factory(list)
    status: int = 200
    content_type: str = EventEncoder().get_content_type()
    headers: list[tuple[bytes, bytes]] = attrs.Factory(list)
    hold_before_answering: bool = False
    break_off: bool = False  # fail after the steps: the connection drops mid-body


@attrs.define
class AguiEndpoint:
    scripts: dict[str, Script] = attrs.Factory(dict)
    requests: list[dict[str, Any]] = attrs.Factory(list)
    headers: list[dict[str, str]] = attrs.Factory(list)
    hung_up: trio.Event = attrs.Factory(trio.Event)
    answered: trio.Event = attrs.Factory(trio.Event)  # the response's head was sent
    base_url: str = ""

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    async def serve(
        self, *, task_status: trio.TaskStatus[AguiEndpoint] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = HypercornConfig()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None

        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(serve, self.app, config)
            self.base_url = binds[0]
            task_status.started(self)

    async def app(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(orjson.loads(body))
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        script = self.scripts[scope["path"]]
        if script.hold_before_answering:
            await self._until_hung_up(receive)
            return
        await send(
            {
                "type": "http.response.start",
                "status": script.status,
                "headers": [(b"content-type", script.content_type.encode()), *script.headers],
            }
        )
        self.answered.set()
        encoder = EventEncoder()
        for step in script.steps:
            if step == HOLD:
                await self._until_hung_up(receive)
                return
            if isinstance(step, trio.Event):
                await step.wait()
                continue
            data = step if isinstance(step, bytes) else encoder.encode(step).encode()
            await send({"type": "http.response.body", "body": data, "more_body": True})
        if script.break_off:
            raise RuntimeError("the endpoint broke off its response")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _until_hung_up(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.hung_up.set()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
