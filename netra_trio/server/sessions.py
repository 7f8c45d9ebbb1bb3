"""Sessions: created at connect, resumable by their user, encrypted at rest.

Session data is sealed with AES-GCM (``cryptography``); the session id and the
user id are bound in as associated data, so a record cannot be moved to
another session or user. A session is live while connections are attached to
it (counted here, in memory, only while the count is above zero); when the
last one detaches its idle clock starts. Expiry is one task that sleeps until
the next session's deadline (woken early when a session goes idle) and then
deletes what has expired, data and all.

A resume claims its session (counts it as attached) before reading it, so
that nothing here deletes it meanwhile. Other processes of a cluster do not
see that claim: their deletions take only sessions still idle through the
time they read them, and a resume holds only when marking its session active
finds it still stored.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Collection
from typing import Any

import orjson
import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from netra_trio.core.sessions import SessionPolicy, SessionView
from netra_trio.logs import log_event
from netra_trio.storage.base import SessionStore, StorageError
from netra_trio.storage.records import SessionRecord

MAX_SESSION_DATA_BYTES = 64 * 1024
RETRY_S = 1.0  # after a storage failure, the expiry task tries again this much later


class SessionForbidden(Exception):
    """The session belongs to another user."""


class SessionUnavailable(Exception):
    """The session is gone (expired) or its data cannot be opened."""


class SessionCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the session key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, session_id: str, user_id: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self._aead.encrypt(nonce, orjson.dumps(data), _bound(session_id, user_id))

    def unseal(self, record: SessionRecord) -> dict[str, Any]:
        try:
            plain = self._aead.decrypt(
                record.nonce, record.data, _bound(record.session_id, record.user_id)
            )
        except InvalidTag:
            raise SessionUnavailable("session data failed authentication") from None
        data: dict[str, Any] = orjson.loads(plain)
        return data


def _bound(session_id: str, user_id: str) -> bytes:
    return f"{session_id}\x00{user_id}".encode()


class SessionService:
    def __init__(
        self,
        storage: SessionStore,
        cipher: SessionCipher,
        policy: SessionPolicy,
        clock: Callable[[], float] = time.time,
        *,
        shared: bool = False,
    ) -> None:
        self._storage = storage
        self._cipher = cipher
        self.policy = policy
        self._clock = clock
        self._shared = shared
        self._attached: dict[str, int] = {}
        self._deleting: set[str] = set()  # sessions whose deletion is under way
        self._lot = trio.lowlevel.ParkingLot()
        self.expired = 0

    @property
    def attached(self) -> dict[str, int]:
        return dict(self._attached)

    async def open(
        self,
        user_id: str,
        requested: str | None,
        *,
        attached_elsewhere: Collection[str] = (),
    ) -> tuple[str, bool]:
        """Attach a connection: the requested session when it is the user's and
        alive (``resumed``), otherwise a new one. SessionForbidden for a session
        of another user. ``attached_elsewhere``: the user's sessions that
        connections on other processes of a cluster are attached to."""
        now = self._clock()
        if requested and await self._resume(user_id, requested, now, attached_elsewhere):
            return requested, True
        existing = await self._storage.user_sessions(user_id)
        views = [
            SessionView(
                s.session_id,
                s.last_active,
                s.session_id in self._attached or s.session_id in attached_elsewhere,
            )
            for s in existing
        ]
        victims = self.policy.to_make_room(views, now)
        if victims:
            # a victim resumed meanwhile on another process has been touched since
            # this read, after every activity read here: it stays
            last = max(s.last_active for s in existing if s.session_id in victims)
            await self._delete(victims, "room for a new session", idle_through=last)
        session_id = secrets.token_urlsafe(18)
        nonce, sealed = self._cipher.seal(session_id, user_id, {})
        await self._storage.put_session(SessionRecord(session_id, user_id, now, now, nonce, sealed))
        self._attach(session_id)
        return session_id, False

    async def _resume(
        self, user_id: str, session_id: str, now: float, attached_elsewhere: Collection[str]
    ) -> bool:
        """Attach to ``session_id`` when it is the user's and alive. It is
        claimed (counted as attached) before it is read, so that neither the
        expiry nor another connection's making room deletes it meanwhile; the
        claim is given back when it cannot be resumed."""
        if session_id in self._deleting:
            return False  # going now: a read might still find it
        self._attach(session_id)
        resumed = False
        try:
            record = await self._storage.get_session(session_id)
            if record is None:
                return False
            if record.user_id != user_id:
                raise SessionForbidden(session_id)
            # attached by another connection than this one (whose claim counts)
            attached = self._attached[session_id] > 1 or session_id in attached_elsewhere
            if self.policy.is_expired(now, record.last_active, attached):
                await self._delete([session_id], "expired", idle_through=record.last_active)
            elif not self._readable(record):
                await self._delete([session_id], "data cannot be opened with this key")
            else:
                # none when another process's expiry deleted it since the read;
                # once touched, such a deletion leaves it alone (idle_through)
                resumed = await self._storage.touch_sessions([session_id], now) == 1
            return resumed
        finally:
            if not resumed and self._drop_attachment(session_id):
                self._lot.unpark_all()  # the expiry may have waited past it

    def _readable(self, record: SessionRecord) -> bool:
        try:
            self._cipher.unseal(record)
        except SessionUnavailable:
            log_event("session_unreadable", logging.WARNING, user=record.user_id)
            return False
        return True

    def _attach(self, session_id: str) -> None:
        self._attached[session_id] = self._attached.get(session_id, 0) + 1

    def _drop_attachment(self, session_id: str) -> bool:
        """One connection (or claim) fewer on the session; True when it was
        the last."""
        count = self._attached.get(session_id, 0) - 1
        if count > 0:
            self._attached[session_id] = count
            return False
        self._attached.pop(session_id, None)
        return True

    async def detach(self, session_id: str) -> None:
        if not self._drop_attachment(session_id):
            return
        try:
            await self._storage.touch_sessions([session_id], self._clock())
        finally:
            self._lot.unpark_all()  # its idle clock runs from now on, stored or not

    async def get(self, session_id: str, user_id: str) -> dict[str, Any]:
        record = await self._storage.get_session(session_id)
        if record is None:
            raise SessionUnavailable("session has expired")
        if record.user_id != user_id:
            raise SessionForbidden(session_id)
        return self._cipher.unseal(record)

    async def update(self, session_id: str, user_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into the session data (top-level keys) and store it sealed."""
        record = await self._storage.get_session(session_id)
        if record is None:
            raise SessionUnavailable("session has expired")
        if record.user_id != user_id:
            raise SessionForbidden(session_id)
        data = {**self._cipher.unseal(record), **patch}
        if len(orjson.dumps(data)) > MAX_SESSION_DATA_BYTES:
            raise ValueError(f"session data would exceed {MAX_SESSION_DATA_BYTES} bytes")
        nonce, sealed = self._cipher.seal(session_id, user_id, data)
        await self._storage.put_session(
            SessionRecord(session_id, user_id, record.created_at, self._clock(), nonce, sealed)
        )
        return data

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Delete sessions as their idle deadlines pass. A storage failure is
        logged and the work is tried again ``RETRY_S`` later: it never ends the
        task (nor the server with it)."""
        async with trio.open_nursery() as nursery:
            if self._shared:
                nursery.start_soon(self._keep_attached_fresh)
            task_status.started()
            while True:
                try:
                    await self._expire_due()
                except StorageError as exc:
                    log_event("session_expiry_error", logging.ERROR, error=str(exc))
                    await trio.sleep(RETRY_S)

    async def _keep_attached_fresh(self) -> None:
        """Shared with other processes (a cluster), whose expiry does not know
        what is attached here: mark the attached sessions active every quarter
        of the idle timeout, so none of them reaches it while attached."""
        while True:
            await trio.sleep(self.policy.idle_timeout_s / 4)
            if self._attached:
                try:
                    await self._storage.touch_sessions(list(self._attached), self._clock())
                except StorageError as exc:
                    log_event("session_touch_error", logging.WARNING, error=str(exc))

    async def _expire_due(self) -> None:
        """Wait for the next idle deadline (or a detach), then delete what is due."""
        while True:
            oldest = await self._storage.oldest_session_activity(exclude=tuple(self._attached))
            if oldest is None:
                await self._lot.park()
                continue
            wait = self.policy.expires_at(oldest) - self._clock()
            if wait > 0:
                with trio.move_on_after(wait):
                    await self._lot.park()
                continue
            cutoff = self._clock() - self.policy.idle_timeout_s
            due = [
                s.session_id
                for s in await self._storage.sessions_idle_since(cutoff)
                if s.session_id not in self._attached
            ]
            if due:
                await self._delete(due, "idle timeout", idle_through=cutoff)

    async def _delete(
        self, session_ids: list[str], reason: str, *, idle_through: float | None = None
    ) -> None:
        self._deleting.update(session_ids)
        try:
            await self._storage.delete_sessions(session_ids, idle_through=idle_through)
        finally:
            self._deleting.difference_update(session_ids)
        self.expired += len(session_ids)
        log_event("sessions_expired", logging.INFO, count=len(session_ids), reason=reason)
