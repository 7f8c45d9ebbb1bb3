"""What runs and connections use beyond themselves: one value, made at start-up
(``startup.py``) and shared by every user hub."""

from __future__ import annotations

from typing import Any

import attrs
import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.auth import Authenticator
from netra_trio.backplane.base import Backplane
from netra_trio.backplane.memory import MemoryBackplane
from netra_trio.cluster.base import Coordinator, LocalCoordinator
from netra_trio.config import Config
from netra_trio.core.expiry import ExpiryPolicy
from netra_trio.core.heartbeat import HeartbeatPolicy
from netra_trio.core.limits import Cooldowns
from netra_trio.core.priority import QueueBounds
from netra_trio.pipeline.event_log import EventLog
from netra_trio.server.round_budget import RoundBudget
from netra_trio.server.sessions import SessionService
from netra_trio.server.stats import ServerStats
from netra_trio.storage.base import Storage


@attrs.frozen
class Services:
    """What runs and connections use beyond themselves; the policies that
    follow from the configuration are made once here, not per connection."""

    config: Config
    storage: Storage
    event_log: EventLog
    agents: AgentRegistry
    sessions: SessionService
    low_work: RoundBudget  # its run() must be running
    authenticator: Authenticator  # the handshake's, also for `refresh`
    coordinator: Coordinator = attrs.field(factory=LocalCoordinator)
    backplane: Backplane = attrs.field(factory=MemoryBackplane)
    llm: Any = None
    stats: ServerStats = attrs.field(factory=ServerStats)  # the hub's, for metrics
    # set when the hub is torn down (after the shutdown grace): a run whose
    # ending cannot be stored stops trying, and the next start gives it one
    stopping: trio.Event = attrs.field(factory=trio.Event)
    expiry: ExpiryPolicy = attrs.field(init=False)
    heartbeat: HeartbeatPolicy = attrs.field(init=False)
    queue_bounds: QueueBounds = attrs.field(init=False)
    # live events a connection holds around a replay: within half of its queue,
    # so that releasing them can never overflow it by itself
    hold_bounds: QueueBounds = attrs.field(init=False)
    # a connection past this share of its user's backlog bound makes the user hub
    # add up its connections' queues
    backlog_check_bytes: int = attrs.field(init=False)
    # users just closed for abuse, refused at the handshake for a while (this
    # process's: a cluster's other nodes do not know them)
    cooldowns: Cooldowns = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        config = self.config
        derived = {
            "expiry": ExpiryPolicy(config.idle_timeout_s),
            "heartbeat": HeartbeatPolicy(config.heartbeat_interval_s, config.heartbeat_timeout_s),
            "queue_bounds": QueueBounds(config.queue_max_frames, config.queue_max_bytes),
            "hold_bounds": QueueBounds(
                max(1, config.queue_max_frames // 2), max(1, config.queue_max_bytes // 2)
            ),
            "backlog_check_bytes": config.user_backlog_max_bytes // config.max_connections_per_user,
            "cooldowns": Cooldowns(config.abuse_cooldown_s),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)
