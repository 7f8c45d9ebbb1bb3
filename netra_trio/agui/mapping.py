"""AG-UI events to this protocol's agent events: a sans-IO state machine.

:class:`EventMapper` takes one run's AG-UI events (parsed JSON objects) in the
order they arrived and answers, for each, what the run reports: a list of
actions (:class:`Output`, :class:`Thinking`, :class:`ToolStarted`,
:class:`ToolFinished`, :class:`Ignored`, and last :class:`Finished` or
:class:`Failed`). It does no I/O and keeps no clock, so every rule here is
tested synchronously. It reads only the fields it uses and checks their types;
an event that lacks one, or comes out of order, raises
``AGENT_PROTOCOL_ERROR`` (an :class:`AgentFailure`).

Where the AG-UI protocol leaves room (``docs/agui.md`` says the same):

- Text is taken as it comes: each non-empty ``TEXT_MESSAGE_CONTENT`` delta is
  an :class:`Output` with the message's id as ``output_id``, with or without
  its ``TEXT_MESSAGE_START``. The run's text (``result.text`` and the thread's
  assistant message) is the text of its assistant messages (role
  ``assistant`` or none), one message after another, separated by a blank
  line; at most ``MAX_TEXT_CHARS``.
- Reasoning (``REASONING_MESSAGE_*`` and the older ``THINKING_TEXT_MESSAGE_*``,
  whose messages have no id) is held per message and becomes one
  :class:`Thinking` when the message ends (its ``_END``, ``REASONING_END``,
  ``THINKING_END``, the end of its chunks, or the run's end), or earlier each
  time it reaches ``THOUGHT_MAX_CHARS``. ``STEP_STARTED`` is a thought
  ``step: NAME``.
- Tool calls are strict, since each becomes a ``tool_executing`` /
  ``tool_completed`` pair: ``TOOL_CALL_START`` (a new id) → ``_ARGS`` →
  ``_END`` → ``_RESULT``, each naming a call in the right stage. The joined
  arguments (at most ``max_tool_args_bytes``) are parsed at ``_END``: nothing
  is ``{}``, a JSON object is itself, other JSON is ``{"value": ...}`` and text
  that is not JSON is ``{"raw": text}``. ``RUN_FINISHED`` while a call's
  arguments still stream is a protocol error; a call without its result is
  closed by the runtime (``tool_completed`` ``error``).
- ``*_CHUNK`` events are read as the AG-UI client expands them: the first chunk
  of a message or call names it (a call also its tool), later ones may leave
  the id out, and a chunk with another id or any other event ends it.
- The stream must begin with ``RUN_STARTED``; ``RUN_FINISHED`` and
  ``RUN_ERROR`` end it. ``STATE_SNAPSHOT`` is kept (the last one becomes
  ``result.state``); ``STATE_DELTA`` is not applied. Every other event,
  known or not, is :class:`Ignored`.

(A little over 300 lines: one state machine over the AG-UI event types; its
checks of order and size read best beside the state they guard, and the
actions and field readers it returns are modules of their own.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from netra_trio.agui.actions import (
    Action,
    Failed,
    Finished,
    Ignored,
    Output,
    Thinking,
    ToolFinished,
    ToolStarted,
)
from netra_trio.agui.errors import FAILED, protocol_error
from netra_trio.agui.fields import (
    id_field,
    optional_id,
    optional_text,
    parse_arguments,
    text_field,
)

THOUGHT_MAX_CHARS = 4000
MAX_TEXT_CHARS = 1_000_000
ERROR_MESSAGE_CHARS = 1000


@attrs.define
class _Parts:
    """Text held in pieces, and how long it is (characters, or for tool
    arguments UTF-8 bytes)."""

    name: str = ""  # a tool call's tool
    parts: list[str] = attrs.Factory(list)
    size: int = 0


class EventMapper:
    def __init__(self, max_tool_args_bytes: int) -> None:
        self._max_args = max_tool_args_bytes
        self._started = False
        self.done = False
        self._text: dict[str, _Parts] = {}  # assistant text by message id, in order
        self._text_chars = 0
        self._other_roles: set[str] = set()  # text messages that are not the assistant's
        self._thoughts: dict[str | None, _Parts] = {}  # None: a THINKING_TEXT_MESSAGE
        self._args: dict[str, _Parts] = {}  # tool calls whose arguments stream
        self._running: set[str] = set()  # tool calls ended, waiting for their result
        self._call_ids: set[str] = set()  # every tool call of the run
        self._chunk_text: str | None = None
        self._chunk_thought: str | None = None
        self._chunk_call: str | None = None
        self._state: Any = None
        self._has_state = False

    def feed(self, event: Mapping[str, Any]) -> list[Action]:
        """What the run reports for ``event`` (the next one of the stream)."""
        kind = event.get("type")
        if not isinstance(kind, str):
            raise protocol_error("the agent endpoint sent an event without a type")
        if not self._started and kind != "RUN_STARTED":
            raise protocol_error(f"the agent endpoint's stream began with {kind}, not RUN_STARTED")
        out: list[Action] = []
        self._end_chunks(kind, out)
        match kind:
            case "RUN_STARTED":
                self._run_started(event)
            case "RUN_FINISHED":
                self._run_finished(out)
            case "RUN_ERROR":
                message = text_field(event, kind, "message")[:ERROR_MESSAGE_CHARS]
                self._end_thoughts(out)
                out.append(Failed(FAILED, message or "the agent endpoint reported an error"))
                self.done = True
            case "TEXT_MESSAGE_START":
                self._set_role(
                    id_field(event, kind, "messageId"), optional_text(event, kind, "role")
                )
            case "TEXT_MESSAGE_CONTENT":
                self._add_text(
                    id_field(event, kind, "messageId"), text_field(event, kind, "delta"), out
                )
            case "TEXT_MESSAGE_CHUNK":
                self._text_chunk(event, out)
            case "REASONING_MESSAGE_CONTENT":
                message_id = id_field(event, kind, "messageId")
                self._add_thought(message_id, text_field(event, kind, "delta"), out)
            case "REASONING_MESSAGE_END":
                self._end_thought(id_field(event, kind, "messageId"), out)
            case "REASONING_MESSAGE_CHUNK":
                self._thought_chunk(event, out)
            case "THINKING_TEXT_MESSAGE_CONTENT":
                self._add_thought(None, text_field(event, kind, "delta"), out)
            case "THINKING_TEXT_MESSAGE_START" | "THINKING_TEXT_MESSAGE_END" | "THINKING_END":
                self._end_thought(None, out)
            case "REASONING_END":
                self._end_thoughts(out)
            case "STEP_STARTED":
                out.append(Thinking(f"step: {text_field(event, kind, 'stepName')}"))
            case "TOOL_CALL_START":
                self._start_call(
                    id_field(event, kind, "toolCallId"), text_field(event, kind, "toolCallName")
                )
            case "TOOL_CALL_ARGS":
                self._add_args(
                    id_field(event, kind, "toolCallId"), text_field(event, kind, "delta")
                )
            case "TOOL_CALL_END":
                self._end_call(id_field(event, kind, "toolCallId"), out)
            case "TOOL_CALL_CHUNK":
                self._call_chunk(event, out)
            case "TOOL_CALL_RESULT":
                self._call_result(event, out)
            case "STATE_SNAPSHOT":
                if "snapshot" not in event:
                    raise protocol_error("the agent endpoint sent STATE_SNAPSHOT without snapshot")
                self._state, self._has_state = event["snapshot"], True
            case (
                "TEXT_MESSAGE_END"
                | "REASONING_START"
                | "REASONING_MESSAGE_START"
                | "THINKING_START"
            ):
                pass  # text is sent as it comes; a thought starts with its first delta
            case _:
                out.append(Ignored(kind))
        return out

    # -- the run -----------------------------------------------------------------

    def _run_started(self, event: Mapping[str, Any]) -> None:
        if self._started:
            raise protocol_error("the agent endpoint sent RUN_STARTED twice")
        text_field(event, "RUN_STARTED", "threadId")
        text_field(event, "RUN_STARTED", "runId")
        self._started = True

    def _run_finished(self, out: list[Action]) -> None:
        if self._args:
            raise protocol_error(
                f"the agent endpoint sent RUN_FINISHED while the arguments of tool call"
                f" {next(iter(self._args))!r} were still streaming"
            )
        self._end_thoughts(out)
        texts = ("".join(text.parts) for text in self._text.values())
        text = "\n\n".join(t for t in texts if t)
        result: dict[str, Any] = {"text": text}
        if self._has_state:
            result["state"] = self._state
        out.append(Finished(result, text))
        self.done = True

    # -- text and reasoning --------------------------------------------------------

    def _add_text(self, message_id: str, delta: str, out: list[Action]) -> None:
        if not delta:
            return
        if message_id not in self._other_roles:
            self._text_chars += len(delta)
            if self._text_chars > MAX_TEXT_CHARS:
                raise protocol_error(
                    f"the agent endpoint's text is longer than {MAX_TEXT_CHARS} characters"
                )
            self._text.setdefault(message_id, _Parts()).parts.append(delta)
        out.append(Output(message_id, delta))

    def _set_role(self, message_id: str, role: str | None) -> None:
        if role in (None, "assistant"):
            self._other_roles.discard(message_id)
        else:
            self._other_roles.add(message_id)

    def _text_chunk(self, event: Mapping[str, Any], out: list[Action]) -> None:
        kind = "TEXT_MESSAGE_CHUNK"
        message_id = optional_id(event, kind, "messageId")
        if message_id is not None:
            self._chunk_text = message_id
            self._set_role(message_id, optional_text(event, kind, "role"))
        elif self._chunk_text is None:
            raise protocol_error(f"the first {kind} of a message needs a messageId")
        self._add_text(self._chunk_text, optional_text(event, kind, "delta") or "", out)

    def _add_thought(self, key: str | None, delta: str, out: list[Action]) -> None:
        thought = self._thoughts.setdefault(key, _Parts())
        thought.parts.append(delta)
        thought.size += len(delta)
        if thought.size >= THOUGHT_MAX_CHARS:
            self._end_thought(key, out)

    def _thought_chunk(self, event: Mapping[str, Any], out: list[Action]) -> None:
        kind = "REASONING_MESSAGE_CHUNK"
        message_id = optional_id(event, kind, "messageId")
        if message_id is not None and message_id != self._chunk_thought:
            if self._chunk_thought is not None:
                self._end_thought(self._chunk_thought, out)
            self._chunk_thought = message_id
        elif self._chunk_thought is None:
            raise protocol_error(f"the first {kind} of a message needs a messageId")
        self._add_thought(self._chunk_thought, optional_text(event, kind, "delta") or "", out)

    def _end_thought(self, key: str | None, out: list[Action]) -> None:
        thought = self._thoughts.pop(key, None)
        if thought is not None and (text := "".join(thought.parts)).strip():
            out.append(Thinking(text))

    def _end_thoughts(self, out: list[Action]) -> None:
        for key in list(self._thoughts):
            self._end_thought(key, out)

    # -- tool calls ----------------------------------------------------------------

    def _start_call(self, call_id: str, tool_name: str) -> None:
        if call_id in self._call_ids:
            raise protocol_error(f"the agent endpoint started tool call {call_id!r} twice")
        self._call_ids.add(call_id)
        self._args[call_id] = _Parts(tool_name)

    def _add_args(self, call_id: str, delta: str) -> None:
        call = self._args.get(call_id)
        if call is None:
            raise protocol_error(
                f"the agent endpoint sent arguments for tool call {call_id!r},"
                " which is not streaming its arguments"
            )
        call.size += len(delta.encode())
        if call.size > self._max_args:
            raise protocol_error(
                f"the arguments of tool call {call_id!r} are longer than {self._max_args} bytes"
            )
        call.parts.append(delta)

    def _end_call(self, call_id: str, out: list[Action]) -> None:
        call = self._args.pop(call_id, None)
        if call is None:
            raise protocol_error(
                f"the agent endpoint ended tool call {call_id!r}, which is not streaming"
                " its arguments"
            )
        self._running.add(call_id)
        out.append(ToolStarted(call_id, call.name, parse_arguments("".join(call.parts))))

    def _call_chunk(self, event: Mapping[str, Any], out: list[Action]) -> None:
        kind = "TOOL_CALL_CHUNK"
        call_id = optional_id(event, kind, "toolCallId")
        if call_id is not None and call_id != self._chunk_call:
            if self._chunk_call is not None:
                self._end_call(self._chunk_call, out)
            tool_name = optional_text(event, kind, "toolCallName")
            if tool_name is None:
                raise protocol_error(f"the first {kind} of a call needs a toolCallName")
            self._start_call(call_id, tool_name)
            self._chunk_call = call_id
        elif self._chunk_call is None:
            raise protocol_error(f"the first {kind} of a call needs a toolCallId")
        delta = optional_text(event, kind, "delta")
        if delta:
            self._add_args(self._chunk_call, delta)

    def _call_result(self, event: Mapping[str, Any], out: list[Action]) -> None:
        call_id = id_field(event, "TOOL_CALL_RESULT", "toolCallId")
        content = event.get("content")
        if not isinstance(content, str | list):
            raise protocol_error("the agent endpoint sent TOOL_CALL_RESULT without content")
        if call_id not in self._running:
            raise protocol_error(
                f"the agent endpoint sent the result of tool call {call_id!r},"
                " which is not waiting for one"
            )
        self._running.discard(call_id)
        out.append(ToolFinished(call_id, content))

    def _end_chunks(self, kind: str, out: list[Action]) -> None:
        """Any other event ends a message or call streamed as chunks."""
        if kind != "TEXT_MESSAGE_CHUNK":
            self._chunk_text = None
        if kind != "REASONING_MESSAGE_CHUNK" and self._chunk_thought is not None:
            self._end_thought(self._chunk_thought, out)
            self._chunk_thought = None
        if kind != "TOOL_CALL_CHUNK" and self._chunk_call is not None:
            call_id, self._chunk_call = self._chunk_call, None
            self._end_call(call_id, out)
