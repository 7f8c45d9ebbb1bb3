"""The two log formats render the same record: event, level, fields, and the
traceback of an error when there is one."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import orjson
import pytest

from netra_trio.logs import (
    LOGGER_NAME,
    MAX_VALUE_CHARS,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    log_event,
)


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[Kept]:
    """The records ``log_event`` makes, kept as they are."""
    logger = logging.getLogger(LOGGER_NAME)
    handler, level = Kept(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def failing_record(kept: Kept) -> logging.LogRecord:
    try:
        {}["missing"]
    except KeyError:
        log_event("handler_error", logging.ERROR, exc_info=True, user="alice", type="ping")
    (record,) = kept.records
    return record


def test_json_lines_carry_the_fields_and_the_traceback(kept: Kept) -> None:
    line = JsonFormatter().format(failing_record(kept))
    assert "\n" not in line  # one record, one line
    obj = orjson.loads(line)
    assert obj["event"] == "handler_error" and obj["level"] == "error"
    assert (obj["user"], obj["type"]) == ("alice", "ping")
    assert obj["exc"].startswith("Traceback (most recent call last):")
    assert obj["exc"].rstrip().endswith("KeyError: 'missing'")


def test_json_lines_without_an_error_have_no_traceback(kept: Kept) -> None:
    log_event("connect", user="alice", remote=("127.0.0.1", 5), codes={1000: 2})
    obj = orjson.loads(JsonFormatter().format(kept.records[0]))
    assert "exc" not in obj
    assert obj["remote"] == ["127.0.0.1", 5] and obj["codes"] == {"1000": 2}


def test_text_lines_carry_the_fields_then_the_traceback(kept: Kept) -> None:
    text = TextFormatter().format(failing_record(kept))
    first, *rest = text.splitlines()
    assert first.endswith(" ERROR   handler_error user=alice type=ping")
    assert rest[0] == "  Traceback (most recent call last):"  # indented: not a record
    assert rest[-1] == "  KeyError: 'missing'"


def test_a_plain_record_is_rendered_by_its_message() -> None:
    """Records from other code on the same logger (no event, no fields)."""
    record = logging.LogRecord(LOGGER_NAME, logging.WARNING, __file__, 1, "plain %s", ("x",), None)
    assert TextFormatter().format(record).endswith(" WARNING plain x")
    assert orjson.loads(JsonFormatter().format(record))["event"] == "plain x"


def test_configure_logging_picks_the_format_and_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        configure_logging("json", "warning")
        log_event("not_shown", logging.INFO)
        log_event("shown", logging.WARNING, n=1)
        (handler,) = logger.handlers
        assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
        assert not logger.propagate
        lines = capsys.readouterr().err.splitlines()
        assert [orjson.loads(line)["event"] for line in lines] == ["shown"]
        configure_logging("text", "debug")
        log_event("debugging", logging.DEBUG)
        assert " DEBUG   debugging" in capsys.readouterr().err
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


FORGED = "bob\n12:00:00 WARNING security_violation user=alice reason=forged"


def test_text_values_that_could_forge_a_line_are_quoted_and_escaped(kept: Kept) -> None:
    log_event(
        "client_error",
        user=FORGED,
        message="unknown field 'x\r\nWARNING abuse user=carol'",
        plain="c-17",
        spaced="two words",
        quote='say "hi"',
        equals="a=b",
        backslash="C:\\dir",
        escape="\x1b[31mred\x1b[0m",
        bidi="abc\u202edcba",
        separator="one\u2028two\x85three",
        empty="",
        number=3,
        nothing=None,
        **{"odd key\n": "v"},
    )
    line = TextFormatter().format(kept.records[0])
    assert line.splitlines() == [line]  # one record, one line, whatever the values
    assert "\x1b" not in line and "\u202e" not in line and "\u2028" not in line
    rendered = line.split(" client_error ", 1)[1]
    assert rendered == (
        r'user="bob\n12:00:00 WARNING security_violation user=alice reason=forged"'
        r""" message="unknown field 'x\r\nWARNING abuse user=carol'" """.rstrip(" ")
        + " plain=c-17"
        + ' spaced="two words"'
        + r' quote="say \"hi\""'
        + ' equals="a=b"'
        + r' backslash="C:\\dir"'
        + r' escape="\x1b[31mred\x1b[0m"'
        + r' bidi="abc\u202edcba"'
        + r' separator="one\u2028two\x85three"'
        + ' empty=""'
        + " number=3"
        + " nothing=None"
        + r' "odd key\n"=v'
    )


def test_a_message_of_another_logger_and_a_traceback_cannot_start_a_line() -> None:
    record = logging.LogRecord(
        LOGGER_NAME, logging.WARNING, __file__, 1, "from elsewhere %s", ("x\ny\x1b",), None
    )
    assert TextFormatter().format(record).endswith(" WARNING from elsewhere x\\x0ay\\x1b")
    try:
        raise ValueError(FORGED)
    except ValueError:
        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).splitlines()
    assert first.endswith("from elsewhere x\\x0ay\\x1b")
    assert rest and all(row.startswith("  ") for row in rest)


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_long_values_are_cut_with_how_much_was_cut(
    kept: Kept, formatter: logging.Formatter
) -> None:
    long_id = "t" * 60_000
    log_event(
        "client_error",
        message=f"thread_id: no thread {long_id!r}",
        items=["x" * 100] * 600,
        short={"kept": "as it is"},
        exact="e" * MAX_VALUE_CHARS,
    )
    line = formatter.format(kept.records[0])
    assert len(line) < 4 * MAX_VALUE_CHARS + 200
    cut = f"...[{60_000 + len('thread_id: no thread ') + 2 - MAX_VALUE_CHARS} more chars]"
    assert cut in line
    assert "e" * MAX_VALUE_CHARS in line and "e" * MAX_VALUE_CHARS + "." not in line
    if isinstance(formatter, JsonFormatter):
        obj = orjson.loads(line)
        assert obj["short"] == {"kept": "as it is"}
        assert obj["message"] == f"thread_id: no thread '{'t' * (MAX_VALUE_CHARS - 22)}{cut}"
        assert obj["items"].endswith(" more chars]")
