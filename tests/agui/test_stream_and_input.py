"""The body a run POSTs, on its own."""

from __future__ import annotations

from ag_ui.core import RunAgentInput

from netra_trio.agui.run_input import input_text, run_input
from netra_trio.storage.records import MessageRecord


def record(message_id: str, role: str, content: str) -> MessageRecord:
    return MessageRecord(message_id, "t-1", role, content, 1.0)


def test_the_new_message_is_sent_once_and_last() -> None:
    history = [record("m-1", "user", "hi"), record("m-2", "assistant", "hello")]
    stored = [*history, record("m-3", "user", "again")]
    body = run_input("t-1", "r-1", stored, "again")
    assert body["messages"][-1] == {"id": "m-3", "role": "user", "content": "again"}
    assert len(body["messages"]) == 3
    added = run_input("t-1", "r-2", history, "again")  # not stored: added with the run's id
    assert added["messages"][-1] == {"id": "r-2:input", "role": "user", "content": "again"}
    assert run_input("t-1", "r-3", [], "")["messages"] == []
    for body in (added, run_input("t-1", "r-4", [], {"ask": 1})):
        assert RunAgentInput.model_validate(body).run_id == body["runId"]


def test_an_input_that_is_not_text_is_its_json() -> None:
    assert input_text("plain") == "plain"
    assert input_text({"ask": [1, 2]}) == '{"ask":[1,2]}'
    assert input_text(None) == "null"
