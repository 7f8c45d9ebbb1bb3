"""Structured logging: one JSON object per line, or readable text.

Records are made with :func:`log_event`, which puts an event name and fields
on the record; both formatters render the same fields. Tokens are never passed
here: nothing in the server logs a credential.

Fields often carry what a client sent (a user id from a token, a thread id, a
message naming a field), so what a client sends never shapes the log: every
field value longer than ``MAX_VALUE_CHARS`` characters is cut there, with how
much was cut (``...[N more chars]``), in both formats. The JSON format escapes
by construction. The text format (``key=value`` pairs) writes a value as it is
only when it is plain printable ASCII without spaces, ``=``, ``"`` or ``\\``;
any other value (and key) is written in double quotes with ``\\``, ``"``,
newlines and every other control or invisible character escaped
(``\\n``, ``\\x1b``, ``\\u202e``), so each record is exactly one line. The
traceback that may follow a record is indented by two spaces: only a
record's own line starts at the beginning of a line.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

LOGGER_NAME = "netra_trio"
logger = logging.getLogger(LOGGER_NAME)

MAX_VALUE_CHARS = 200
_PLAIN = re.compile(r"[!#-<>-\[\]-~]+")  # printable ASCII but space, '"', '=' and '\'
_NAMED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TRACEBACK_INDENT = "  "


def log_event(
    event: str, level: int = logging.INFO, /, *, exc_info: bool = False, **fields: Any
) -> None:
    if logger.isEnabledFor(level):
        logger.log(
            level, event, exc_info=exc_info, extra={"netra_fields": fields, "netra_event": event}
        )


def bounded(value: Any) -> Any:
    """``value`` as it is logged: a string (or a container whose JSON is) over
    ``MAX_VALUE_CHARS`` characters is cut there, with how much was cut."""
    if isinstance(value, str):
        return _cut(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        text = str(value)
    return value if len(text) <= MAX_VALUE_CHARS else _cut(text)


def _cut(text: str) -> str:
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return f"{text[:MAX_VALUE_CHARS]}...[{len(text) - MAX_VALUE_CHARS} more chars]"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = getattr(record, "netra_fields", {})
    return {key: bounded(value) for key, value in fields.items()}


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    return char if char.isprintable() else _code_escape(char)


def _code_escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escaped(text: str) -> str:
    """``text`` with ``\\``, ``"`` and every control or invisible character escaped."""
    return "".join(map(_escape_char, text))


def _printable(text: str) -> str:
    """``text`` with its control and invisible characters escaped (a
    message or a traceback line: quotes and backslashes stay as they are)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _code_escape(c) for c in text)


def text_value(value: object) -> str:
    """A key or a value of the text format: as it is when plain, else quoted."""
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(text):
        return text
    return f'"{escaped(text)}"'


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "event": getattr(record, "netra_event", record.getMessage()),
        }
        obj.update(_fields(record))
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        event = getattr(record, "netra_event", None)
        event = text_value(event) if event is not None else _printable(record.getMessage())
        pairs = " ".join(f"{text_value(k)}={text_value(v)}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname:<7} {event} {pairs}".rstrip()
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n{_TRACEBACK_INDENT}{_printable(row)}" for row in trace.splitlines())
        return line


def configure_logging(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
