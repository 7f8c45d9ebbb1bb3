"""Isolation property: under random concurrent traffic, no frame reaches another user."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack
from typing import Any

import attrs
import pytest
import trio
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from netra_trio.client import NetraClient
from netra_trio.server.app import Server
from tests.e2e.support import WAIT_S, Frame, connect
from tests.helpers import start_server

pytestmark = pytest.mark.e2e

USERS = 4
CONNECTIONS_PER_USER = 3
ACTIONS_PER_CONNECTION = 40
MAX_FOREIGN_PER_CONNECTION = 3  # stays under the 5 violations that close a connection


@attrs.define
class Peer:
    """One connection, what it sent, and what it must get back."""

    user: str
    client: NetraClient
    connection_id: str
    siblings: frozenset[str] = frozenset()
    frames: list[str] = attrs.Factory(list)
    pongs_expected: list[str] = attrs.Factory(list)
    acks_expected: set[str] = attrs.Factory(set)
    forbidden_expected: set[str] = attrs.Factory(set)

    def envelope(self, kind: str, message_id: str, **extra: Any) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": kind, "message_id": message_id, **extra}
        if kind == "ping":
            frame["payload"] = {"user": self.user, "conn": self.connection_id, "id": message_id}
        return frame


def _plan(peer: Peer, rng: random.Random, users: list[str]) -> list[list[dict[str, Any]]]:
    """Random traffic for one connection: each item is one WebSocket message (a
    frame, or a batch of frames), with the replies it must produce recorded."""
    messages: list[list[dict[str, Any]]] = []
    foreign = 0
    counter = 0

    def one(in_batch: bool) -> dict[str, Any]:
        nonlocal foreign, counter
        counter += 1
        mid = f"{peer.connection_id}-{counter}"
        roll = rng.random()
        if roll < 0.08 and foreign < MAX_FOREIGN_PER_CONNECTION:
            foreign += 1
            victim = rng.choice([u for u in users if u != peer.user])
            peer.forbidden_expected.add(mid)
            frame = peer.envelope("ping", mid, user_id=victim)
            frame["payload"]["user"] = victim  # a pong naming the victim must never exist
            return frame
        if roll < 0.35:
            peer.acks_expected.add(mid)
            kind = rng.choice(["typing_started", "typing_stopped"])
            if rng.random() < 0.3:
                return peer.envelope(kind, mid, user_id=peer.user)  # naming oneself is fine
            return peer.envelope(kind, mid)
        peer.pongs_expected.append(mid)
        return peer.envelope("ping", mid)

    for _ in range(ACTIONS_PER_CONNECTION):
        if rng.random() < 0.2:
            messages.append([one(True) for _ in range(rng.randint(1, 8))])
        else:
            messages.append([one(False)])
    return messages


async def _send(peer: Peer, plan: list[list[dict[str, Any]]], rng: random.Random) -> None:
    for message in plan:
        if len(message) == 1 and rng.random() < 0.9:
            frame = message[0]
            await peer.client.send(
                frame["type"],
                frame.get("payload"),
                **{k: v for k, v in frame.items() if k not in ("type", "payload")},
            )
        else:
            await peer.client.send(
                "batch", {"messages": message}, message_id=f"{peer.connection_id}-b"
            )
        if rng.random() < 0.3:
            await trio.sleep(rng.random() * 0.003)
        else:
            await trio.lowlevel.checkpoint()


async def _receive(peer: Peer) -> None:
    pongs: list[str] = []
    acks: set[str] = set()
    forbidden: set[str] = set()
    while (
        len(pongs) < len(peer.pongs_expected)
        or acks != peer.acks_expected
        or forbidden != peer.forbidden_expected
    ):
        frame: Frame = await peer.client.receive()
        kind = frame["type"]
        if kind == "pong":
            payload = frame["payload"]
            assert payload["user"] == peer.user, (peer.user, frame)
            assert payload["conn"] == peer.connection_id, (peer.connection_id, frame)
            assert frame["correlation_id"] == payload["id"]
            pongs.append(payload["id"])
        elif kind == "user_typing":
            assert frame["payload"]["connection_id"] in peer.siblings, (peer.user, frame)
        elif kind == "typing_ack":
            assert frame["correlation_id"] in peer.acks_expected, frame
            acks.add(frame["correlation_id"])
        elif kind == "error":
            assert frame["payload"]["code"] == "FORBIDDEN", frame
            assert frame["correlation_id"] in peer.forbidden_expected, frame
            forbidden.add(frame["correlation_id"])
        else:
            pytest.fail(f"{peer.user} got an unexpected frame {frame}")
    # pongs of one connection come back in the order the pings were sent
    assert pongs == peer.pongs_expected


async def _run_traffic(server: Server, seed: int) -> None:
    rng = random.Random(seed)
    users = [f"user{u}-{seed}" for u in range(USERS)]
    async with AsyncExitStack() as stack:
        peers: list[Peer] = []
        for user in users:
            for _ in range(CONNECTIONS_PER_USER):
                query = "batch=1" if rng.random() < 0.5 else ""
                client = await stack.enter_async_context(connect(server, user, query=query))
                peers.append(Peer(user, client, client.established["connection_id"]))
        for peer in peers:
            peer.siblings = frozenset(
                p.connection_id for p in peers if p.user == peer.user and p is not peer
            )
        plans = [_plan(peer, rng, users) for peer in peers]
        seeds = [rng.randrange(2**32) for _ in peers]
        with trio.fail_after(WAIT_S):
            async with trio.open_nursery() as nursery:
                for peer, plan, peer_seed in zip(peers, plans, seeds, strict=True):
                    nursery.start_soon(_send, peer, plan, random.Random(peer_seed))
                    nursery.start_soon(_receive, peer)
    stats = server.hub.stats
    assert stats.fence_refused == 0
    assert stats.security_violations == sum(len(p.forbidden_expected) for p in peers)
    assert stats.evictions == 0 and stats.slow_consumers == 0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_no_frame_crosses_users_under_random_traffic(server: Server, seed: int) -> None:
    await _run_traffic(server, seed)


@settings(
    max_examples=4,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a seed has nothing to shrink
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
async def test_no_frame_crosses_users_hypothesis(seed: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery)
        await _run_traffic(server, seed)
        server.request_shutdown()
