"""Servers: the worker processes registered in the store, and remote control of them.

A *server* is one worker process's registration (name ``host:pid``), kept fresh by its
heartbeat. Commands (pause, resume, stop, kill, thread-dump) are queued on the server
document; the worker takes them at its next command check (within
``[worker] max_poll_seconds``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from rocketjob import connection
from rocketjob.control import ServerCommand
from rocketjob.store import ServerDoc, Store


@dataclass(frozen=True)
class Server:
    """One registered worker process, as last written by its heartbeat."""

    name: str
    host: str
    pid: int
    state: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    threads: int
    busy: int
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: ServerDoc) -> Server:
        """A Server from a store document."""
        return cls(
            name=doc["name"], host=doc["host"], pid=int(doc["pid"]), state=doc["state"],
            started_at=doc["started_at"], heartbeat_at=doc["heartbeat_at"],
            threads=int(doc["threads"]), busy=int(doc["busy"]), info=dict(doc.get("info") or {}),
        )  # fmt: skip

    @classmethod
    def all(cls, store: Store | None = None) -> list[Server]:
        """Every registered server, by name."""
        store = store or connection.current_store()
        return [cls.from_doc(doc) for doc in store.list_servers()]

    @classmethod
    def find(cls, name: str, store: Store | None = None) -> Server | None:
        """The server called ``name`` (``host:pid``), or None."""
        return next((server for server in cls.all(store) if server.name == name), None)

    def heartbeat_age(self, now: dt.datetime | None = None) -> float:
        """Seconds since the last heartbeat."""
        return ((now or dt.datetime.now(dt.UTC)) - self.heartbeat_at).total_seconds()

    def send(self, command: ServerCommand, store: Store | None = None) -> bool:
        """Queue a remote command; False if the server is gone. ValueError for a value
        that is not a :class:`~rocketjob.control.ServerCommand`."""
        command = ServerCommand.parse(command)  # a plain str from untyped callers
        return (store or connection.current_store()).send_command(self.name, command)

    def pause(self) -> bool:
        """Stop claiming jobs (running ones finish)."""
        return self.send(ServerCommand.PAUSE)

    def resume(self) -> bool:
        """Claim jobs again."""
        return self.send(ServerCommand.RESUME)

    def stop(self) -> bool:
        """Drain and exit; the supervisor does not replace it."""
        return self.send(ServerCommand.STOP)

    def kill(self) -> bool:
        """Stop now: running jobs are re-queued; not replaced."""
        return self.send(ServerCommand.KILL)

    def thread_dump(self) -> bool:
        """Log the stack of each of its threads."""
        return self.send(ServerCommand.THREAD_DUMP)

    @property
    def async_slots(self) -> int:
        """Slots of its event loop for coroutine jobs (0: it runs none)."""
        return int(self.info.get("async_slots") or 0)

    @property
    def async_busy(self) -> int:
        """Slots of its event loop running a coroutine job, beside ``busy`` threads."""
        return int(self.info.get("async_busy") or 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (times as ISO 8601 strings), with ``async_slots`` and
        ``async_busy`` beside ``threads`` and ``busy``."""
        data = asdict(self)
        data["async_slots"], data["async_busy"] = self.async_slots, self.async_busy
        data["started_at"] = self.started_at.isoformat()
        data["heartbeat_at"] = self.heartbeat_at.isoformat()
        return data


__all__ = ["Server", "ServerCommand"]
