"""A new thread and its first message are stored together or not at all, on
every backend: a request that fails never leaves a thread without its message."""

from __future__ import annotations

import pytest

from netra_trio.storage.base import Storage, StorageError


async def test_a_thread_is_made_with_its_first_message(storage: Storage) -> None:
    thread, message = await storage.threads.create_thread_with_message(
        "alice", "cut costs", "user", "how do we cut cost?"
    )
    assert (thread.user_id, thread.title) == ("alice", "cut costs")
    assert (message.thread_id, message.role, message.content) == (
        thread.thread_id,
        "user",
        "how do we cut cost?",
    )
    assert await storage.threads.get_thread(thread.thread_id) == thread
    assert await storage.threads.thread_messages(thread.thread_id) == [message]
    assert await storage.threads.list_threads("alice") == [thread]


async def test_a_message_that_cannot_be_stored_takes_its_thread_with_it(
    storage: Storage,
) -> None:
    with pytest.raises(StorageError):  # the schema allows only "user" and "assistant"
        await storage.threads.create_thread_with_message("alice", "half", "robot", "hello")
    assert await storage.threads.list_threads("alice") == []
    kept, _ = await storage.threads.create_thread_with_message("alice", "whole", "user", "hi")
    assert await storage.threads.list_threads("alice") == [kept]  # and the store goes on
