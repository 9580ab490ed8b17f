"""The worker's server document: registration, heartbeats, commands, zombie reaping.

Every ``heartbeat_seconds`` the worker writes its heartbeat with its figures (CPU,
memory, stats) and reaps the servers whose heartbeat is older than ``zombie_seconds``.
In between, every ``max_poll_seconds``, a light heartbeat (state, busy) takes the
commands queued on the document, so remote control acts within ``max_poll_seconds``.
Times come from the injected clock.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from typing import Any

from rocketjob.clock import Clock
from rocketjob.config import WorkerConfig
from rocketjob.errors import StoreError
from rocketjob.log import logger
from rocketjob.store import Store


class Heartbeat:
    """Keeps one server document fresh and hands back the commands queued on it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        config: WorkerConfig,
        server_name: str,
        info: Callable[[], dict[str, Any]],
        on_reaped: Callable[[list[str]], None] = lambda names: None,
        figures_every_beat: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.server_name = server_name
        self.info = info
        #: Called after each zombie check with the servers reaped (maybe none): the worker
        #: re-queues the jobs it took over from them, and their batch slices.
        self.on_reaped = on_reaped
        #: Write ``info`` with every heartbeat, not only the full ones (an event loop's
        #: busy slots are there).
        self.figures_every_beat = figures_every_beat
        self.next_full = 0.0  # clock.monotonic() of the next full heartbeat
        self.next_check = 0.0  # ... and of the next command check
        #: The state last written (or attempted): a change is written at once.
        self.shown_state = "running"

    def register(self) -> None:
        """Write the server document (at boot, or again after being declared dead)."""
        now = self.clock.now()
        self.store.register_server({
            "name": self.server_name, "host": socket.gethostname(), "pid": os.getpid(),
            "state": "running", "started_at": now, "heartbeat_at": now,
            "threads": self.config.threads, "busy": 0, "info": self.info(), "commands": [],
        })  # fmt: skip

    def tick(self, state: str, busy: int) -> list[str]:
        """A full heartbeat or a command check when one is due, or a light heartbeat when
        ``state`` changed since the last one (a remote pause shows at once); the
        commands taken."""
        now = self.clock.monotonic()
        if now >= self.next_full:
            self.next_full = now + self.config.heartbeat_seconds
            self.next_check = now + self.config.max_poll_seconds
            return self.beat(state, busy)
        if now >= self.next_check:
            self.next_check = now + self.config.max_poll_seconds
            return self.beat(state, busy, full=False)
        if state != self.shown_state:
            return self.beat(state, busy, full=False)
        return []

    def beat(self, state: str, busy: int, *, full: bool = True) -> list[str]:
        """Write the heartbeat now (with the figures and a zombie reap when ``full``);
        return the commands queued on the document. A store error is logged."""
        changes: dict[str, Any] = {"heartbeat_at": self.clock.now(), "state": state, "busy": busy}
        self.shown_state = state  # attempted once: a failing store is retried when due
        if full or self.figures_every_beat:
            changes["info"] = self.info()
        try:
            doc = self.store.heartbeat_server(self.server_name, changes)
            if doc is None:
                logger.warning(
                    "server was declared dead; registering again", server=self.server_name
                )
                self.register()
                return []
            if full:
                self.reap_zombies()
            return list(doc["commands"])
        except StoreError as exc:
            logger.warning("heartbeat failed", error=str(exc))
            return []

    def reap_zombies(self) -> None:
        """Remove the servers whose heartbeat is older than zombie_seconds, taking over
        their running jobs (``on_reaped`` re-queues them)."""
        cutoff = self.clock.now() - dt.timedelta(seconds=self.config.zombie_seconds)
        reaped = self.store.reap_zombie_servers(cutoff, self.server_name)
        for name in reaped:
            logger.warning("zombie server reaped; its jobs re-queued", server=name)
        self.on_reaped(reaped)
