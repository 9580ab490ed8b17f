"""What the pages read and do, on top of the store and the Job model.

Listings are keyset queries on indexed columns (state, class, id); predicates no index
serves (free text, scheduled or not) are checked on a bounded window of jobs
(:meth:`MissionControlStore.scan_jobs`), so every page costs the same with a million
jobs. Counts come from :class:`rocketjob.web.counts.CountsCache`.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rocketjob import codec
from rocketjob.control import ServerCommand
from rocketjob.job import Job
from rocketjob.store import JobDoc, JobQuery, Store, open_store
from rocketjob.store.base import MissionControlStore
from rocketjob.web.counts import CountsCache, Snapshot
from rocketjob.web.memory_state import MemoryWebState
from rocketjob.web.rates import CounterRates

PAGE_SIZE = 50
#: Jobs checked per page when filtering by free text or by schedule.
SCAN_LIMIT = 20_000
#: At most this many jobs are acted on by one bulk request.
BULK_LIMIT = 1000
JOB_ACTIONS = ("retry", "pause", "resume", "abort", "run_now", "destroy")


@dataclass(frozen=True)
class View:
    """One job list: which states, and whether it keeps scheduled jobs."""

    name: str
    title: str
    states: tuple[str, ...] | None
    scheduled: bool | None = None


VIEWS: dict[str, View] = {
    view.name: view
    for view in (
        View("running", "Running", ("running",)),
        View("scheduled", "Scheduled", ("queued",), scheduled=True),
        View("queued", "Queued", ("queued",), scheduled=False),
        View("paused", "Paused", ("paused",)),
        View("failed", "Failed", ("failed",)),
        View("aborted", "Aborted", ("aborted",)),
        View("completed", "Completed", ("completed",)),
        View("all", "All", None),
    )
}


@dataclass(frozen=True)
class Page:
    """One page of a job list."""

    jobs: list[JobDoc]
    next_after: str | None
    scanned: bool  # True when a bounded scan ran (text or schedule filter)


class MissionControlData:
    """The store, counts cache and audit log behind the pages."""

    def __init__(
        self, store: Store, *, counts_ttl: float, zombie_seconds: float,
        now: Callable[[], dt.datetime],
    ) -> None:  # fmt: skip
        self.store = store
        self.now = now
        self.zombie_seconds = zombie_seconds
        self.counts = CountsCache(lambda: open_store(store.url), counts_ttl, now)
        self._memory_audit: deque[dict[str, Any]] = deque(maxlen=1000)
        self.rates = CounterRates()
        #: Server-side sessions and failed-login counters: the store's, shared by every
        #: ``rocketjob web`` process, else this process's memory.
        self.web_state: Any = MemoryWebState()
        if isinstance(store, MissionControlStore):
            store.prepare_mission_control()
            self.web_state = store

    # -- counts ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Cached job counts and recent timings."""
        return self.counts.get()

    # -- job lists ---------------------------------------------------------------------
    def list_jobs(
        self, view: View, *, job_class: str | None = None, text: str | None = None,
        newest_first: bool = True, after: str | None = None, limit: int = PAGE_SIZE,
    ) -> Page:  # fmt: skip
        """One keyset page of ``view``, filtered by class and free text."""
        query = JobQuery(view.states, job_class or None, after=after or None,
                         descending=newest_first, limit=limit)  # fmt: skip
        if not text and view.scheduled is None:
            docs = self.store.find_jobs(JobQuery(**{**query.__dict__, "limit": limit + 1}))
            more = len(docs) > limit
            return Page(docs[:limit], docs[limit - 1]["id"] if more else None, False)
        if isinstance(self.store, MissionControlStore):
            docs, next_after = self.store.scan_jobs(
                query, text=text or None, scheduled=view.scheduled, now=self.now(),
                scan_limit=SCAN_LIMIT,
            )  # fmt: skip
            return Page(docs, next_after, True)
        return self._scan_in_python(query, view, text)

    def _scan_in_python(self, query: JobQuery, view: View, text: str | None) -> Page:
        """Fallback of scan_jobs for stores without it (same bounded semantics)."""
        window = self.store.find_jobs(JobQuery(**{**query.__dict__, "limit": SCAN_LIMIT}))
        now, needle, limit = self.now(), (text or "").lower(), query.limit or PAGE_SIZE
        found = [doc for doc in window if _matches(doc, needle, view.scheduled, now)]
        if len(found) > limit:
            return Page(found[:limit], found[limit - 1]["id"], True)
        full = len(window) == SCAN_LIMIT
        return Page(found, window[-1]["id"] if full else None, True)

    def find_ids(self, view: View, job_class: str | None, text: str | None) -> list[str]:
        """Ids of up to BULK_LIMIT jobs of a filtered list (for bulk actions)."""
        page = self.list_jobs(view, job_class=job_class, text=text, limit=BULK_LIMIT)
        return [doc["id"] for doc in page.jobs]

    # -- one job -----------------------------------------------------------------------
    def job(self, job_id: str) -> JobDoc | None:
        """The job's document, or None."""
        return self.store.get_job(job_id)

    def act(self, job_id: str, action: str) -> Job:
        """Fire ``action`` (one of JOB_ACTIONS) on the job through its state machine.
        Raises JobNotFound or InvalidTransition."""
        job: Job = Job.find(job_id)
        if action == "destroy":
            job.destroy()
        else:
            getattr(job, action)()
        return job

    # -- servers -----------------------------------------------------------------------
    def servers(self) -> list[dict[str, Any]]:
        """Every server with ``heartbeat_age`` (seconds) and ``zombie`` added."""
        now = self.now()
        servers = self.store.list_servers()
        for server in servers:
            age = (now - server["heartbeat_at"]).total_seconds()
            server["heartbeat_age"] = max(age, 0.0)
            server["zombie"] = age > self.zombie_seconds
            server["appender_drops"] = appender_drops(server)
        self.rates.observe(servers)
        return servers

    def attach_running_jobs(self, servers: list[dict[str, Any]]) -> None:
        """Set ``jobs`` on each server: what its threads run now. Read by id from the
        thread snapshot each server heartbeats (``info.current``), else by server."""
        ids = [
            job_id
            for s in servers
            for job_id in ((s.get("info") or {}).get("current") or {}).values()
        ]
        found: dict[str, list[JobDoc]] = {}
        if ids:
            for doc in self.store.find_jobs(JobQuery(ids=ids, limit=len(ids))):
                found.setdefault(doc["server_name"] or "", []).append(doc)
        for server in servers:
            if "current" in (server.get("info") or {}):
                server["jobs"] = found.get(server["name"], [])
            else:
                query = JobQuery(states=["running"], server_name=server["name"], limit=100)
                server["jobs"] = self.store.find_jobs(query)

    def send_command(self, name: str, command: ServerCommand) -> bool:
        """Queue a remote-control command for the server; False if it is gone."""
        return self.store.send_command(name, command)

    # -- audit log ---------------------------------------------------------------------
    def audit(
        self, user: str, action: str, target: str, outcome: str = "ok", detail: str = ""
    ) -> None:
        """Write who did what to which target, and how it went."""
        entry = {"at": self.now(), "user": user, "action": action, "target": target,
                 "outcome": outcome, "detail": detail}  # fmt: skip
        if isinstance(self.store, MissionControlStore):
            self.store.add_audit(entry)
        else:  # kept in memory only: the store has no audit log yet
            entry["id"] = str(len(self._memory_audit) + 1)
            self._memory_audit.appendleft(entry)

    def audit_entries(self, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
        """Audit entries, newest first."""
        if isinstance(self.store, MissionControlStore):
            return self.store.list_audit(limit, after)
        entries = list(self._memory_audit)
        if after is not None:
            entries = [e for e in entries if int(e["id"]) < int(after)]
        return entries[:limit]

    def close(self) -> None:
        """Release the counting connection."""
        self.counts.close()


def appender_drops(server: dict[str, Any]) -> int:
    """Log records the server's appenders dropped (``info.appender_drops``: a number, or
    a mapping of appender name to number)."""
    drops = (server.get("info") or {}).get("appender_drops", 0)
    if isinstance(drops, dict):
        return sum(int(v) for v in drops.values() if isinstance(v, int | float))
    return int(drops) if isinstance(drops, int | float) else 0


def _matches(doc: JobDoc, needle: str, scheduled: bool | None, now: dt.datetime) -> bool:
    if scheduled is not None:
        future = doc["run_at"] is not None and doc["run_at"] > now
        if future != scheduled:
            return False
    if not needle:
        return True
    fields = ("id", "job_class", "description", "arguments", "exception", "worker_name", "fields")
    text = " ".join(
        v if isinstance(v, str) else codec.dumps(v) for v in (doc[k] for k in fields) if v
    )
    return needle in text.lower()
