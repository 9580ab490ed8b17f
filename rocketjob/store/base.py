"""The store contract: everything the job model and the runtime ask of a database.

No SQL or driver call lives outside the store modules. Every store (SQLite, PostgreSQL,
MongoDB) implements :class:`Store` and passes the one contract suite in
``tests/store/test_contract.py`` unchanged.

Documents
    A *job document* is a ``dict`` with exactly the keys of :data:`JOB_FIELDS` (listed
    once, in :mod:`rocketjob.store.job_fields`). Times are
    timezone-aware UTC ``datetime`` objects (stores may keep microsecond precision only);
    ``arguments``, ``result`` and ``fields`` hold values already encoded by
    :mod:`rocketjob.codec` (plain JSON); ``exception`` is ``None`` or a plain dict.
    A *server document* has the keys of :data:`SERVER_FIELDS`.

Guarantees every store gives
    * Each method is atomic on its own: it happens entirely or not at all.
    * ``claim_jobs`` never hands one job to two callers; it writes the fields of
      :func:`rocketjob.state.start_changes`, and ``requeue_jobs`` those of
      :func:`rocketjob.state.requeue_changes` (the transition table's).
    * Conditional writes (``update_job``, ``delete_job``, ``finish_jobs``) compare and set:
      they apply only when the job is still in one of the expected states (and, where
      given, still owned by the expected worker), so a stale caller cannot overwrite a
      newer state.
    * Every blocking call has a bounded timeout; an unreachable database raises
      :class:`rocketjob.errors.StoreUnavailable` with one clear line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rocketjob.control import ServerCommand
from rocketjob.store.job_fields import JOB_FIELDS as JOB_FIELDS  # re-exported: the contract

JobDoc = dict[str, Any]
ServerDoc = dict[str, Any]

#: States in which a job holds its ``singleton_key``.
ACTIVE_STATES = ("queued", "running", "paused")

#: Every key of a dirmon entry (see rocketjob.included.dirmon).
DIRMON_FIELDS: dict[str, str] = {
    "name": "str, unique",
    "pattern": "str: absolute glob pattern of the files to pick up",
    "job_class": "dotted path of the job class started per file",
    "archive_directory": "str: where picked-up files are moved",
    "properties": "dict: field values of each job started",
    "enabled": "bool",
    "last_error": "str or None: why the entry last failed",
    "updated_at": "datetime",
}

#: Every key of a server document.
SERVER_FIELDS: dict[str, str] = {
    "name": "str host:pid, unique",
    "host": "str",
    "pid": "int",
    "state": "running, paused or stopping",
    "started_at": "datetime",
    "heartbeat_at": "datetime",
    "threads": "int, size of the thread pool",
    "busy": "int, threads running a job",
    "info": "dict: cpu_percent, memory_rss, job_classes, appender_drops, ...",
    "commands": "list of str sent by remote control, oldest first",
}


class JobBatch(Sequence[JobDoc]):
    """The documents of a bulk enqueue: one ``template`` document, and per job its own
    ``id`` and ``arguments``; every other field is the template's.

    It is a sequence of full documents, so a store can treat it like any list given to
    ``insert_jobs``; a store that recognises it may send the shared values once."""

    def __init__(self, template: JobDoc, ids: Sequence[str], arguments: Sequence[Any]) -> None:
        if len(ids) != len(arguments):
            raise ValueError(f"{len(ids)} ids for {len(arguments)} arguments")
        self.template, self.ids, self.arguments = template, ids, arguments

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[JobDoc]:
        template = self.template
        for job_id, arguments in zip(self.ids, self.arguments, strict=True):
            yield {**template, "id": job_id, "arguments": arguments}

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return {**self.template, "id": self.ids[index], "arguments": self.arguments[index]}


@dataclass(frozen=True)
class JobQuery:
    """A listing of jobs: filters, keyset pagination and order.

    ``after`` is the id of the last job of the previous page; pages are ordered by id
    (creation time), newest first when ``descending``.
    """

    states: Collection[str] | None = None
    job_class: str | None = None
    ids: Collection[str] | None = None
    server_name: str | None = None
    after: str | None = None
    descending: bool = False
    limit: int | None = 1000


@dataclass(frozen=True)
class Finish:
    """The outcome of one claimed job, written by :meth:`Store.finish_jobs`.

    When ``destroy`` is true the job is deleted; otherwise ``changes`` are applied. Either
    happens only if the job is still running on ``worker_name``.
    """

    job_id: str
    worker_name: str
    destroy: bool = False
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimLimit:
    """A throttle applied while claiming: at most ``max_running`` jobs whose class is in
    ``job_classes`` may be running at once (``name`` identifies it across servers)."""

    name: str
    job_classes: frozenset[str]
    max_running: int


@dataclass(frozen=True)
class ClaimFor:
    """One kind of place a worker claims jobs for, in :meth:`Store.claim_kinds`: its
    idle places' worker names (job threads, or free slots of the event loop) and the job
    classes that kind runs."""

    worker_names: Sequence[str]
    job_classes: Collection[str]


class AsyncJobs(Protocol):
    """A store's job calls on its engine's async driver, for async applications
    (``aperform_later``, ``aperform_all_later``, ``Job.afind``, ``job.areload``): awaited on
    the caller's event loop, so it keeps serving while the database answers, with no
    thread hop. Each event loop gets its own connection, opened on first use and closed
    when the loop shuts down (``asyncio.run``'s end) or by :meth:`aclose`.

    The documents, the statements and the errors are the blocking methods' (the same
    encoding, the same SQL text, StoreUnavailable / StoreError / DuplicateJob)."""

    async def insert_jobs(self, docs: Sequence[JobDoc]) -> None:
        """:meth:`Store.insert_jobs` (without ``connection=``)."""

    async def get_job(self, job_id: str) -> JobDoc | None:
        """:meth:`Store.get_job`."""

    async def aclose(self) -> None:
        """Close the calling event loop's connection now (an application's shutdown
        hook may; the loop's shutdown does it otherwise)."""


@runtime_checkable
class Store(Protocol):
    """What every store implements. See the module docstring for the guarantees."""

    url: str

    #: The store's calls on its engine's async driver (PostgreSQL: psycopg's
    #: AsyncConnection; MongoDB: pymongo's AsyncMongoClient), or None when the engine has
    #: none (SQLite): the async API then runs the blocking call on a thread.
    async_jobs: AsyncJobs | None

    #: How many outcome batches (``finish_jobs`` / ``finish_and_claim`` calls) one worker
    #: process may have in flight at once (rocketjob.executor.GroupCommitter). Every store
    #: here says 1: bigger batches cost less per job than a second round trip saves
    #: (docs/performance.md).
    concurrent_writers: int

    # -- jobs -----------------------------------------------------------------
    def insert_jobs(self, docs: Sequence[JobDoc], *, connection: Any = None) -> None:
        """Store every document, all or none, in as few round trips as the engine allows.
        A duplicate id raises StoreError and stores none.

        ``connection`` (PostgreSQL only) is a caller's open psycopg connection: the jobs
        are inserted in its transaction and exist only if it commits. Other stores raise
        ValidationError when it is given.
        """

    def get_job(self, job_id: str) -> JobDoc | None:
        """The job's document, or None when no such job exists."""

    def update_job(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        from_states: Collection[str] | None = None,
        worker_name: str | None = None,
    ) -> JobDoc | None:
        """Apply ``changes`` if the job exists, its state is in ``from_states`` (when
        given) and it is owned by ``worker_name`` (when given). Return the updated
        document, or None when the condition did not hold."""

    def delete_job(self, job_id: str, *, from_states: Collection[str] | None = None) -> bool:
        """Delete the job (only from ``from_states`` when given); True if it was deleted."""

    def find_jobs(self, query: JobQuery) -> list[JobDoc]:
        """The jobs matching ``query``, in id order (descending when asked)."""

    def count_jobs(self, job_class: str | None = None) -> dict[str, int]:
        """Number of jobs per state (states with no job are left out)."""

    def queued_job_classes(self) -> list[str]:
        """The distinct classes of queued jobs (to flag jobs no live server can run)."""

    def claim_jobs(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> list[JobDoc]:
        """Atomically move up to ``len(worker_names)`` queued jobs to running.

        Only jobs whose class is in ``job_classes`` and whose ``run_at`` is None or not
        after ``now`` are taken: highest priority (lowest number) first, then oldest id.
        The i-th job claimed gets ``worker_names[i]`` as its worker_name, the server part
        (``host:pid``) of it as server_name, and ``started_at = now``. The returned
        documents show the new state. No job is handed to two callers.

        ``limits`` (throttles): a job is not claimed while as many jobs of its limit's
        classes are running as the limit allows, counted across every caller, and the
        count and the claim are one serialised step (never more than ``max_running``).
        """

    def claim_kinds(
        self, kinds: Sequence[ClaimFor], now: dt.datetime, limits: Sequence[ClaimLimit] = ()
    ) -> list[list[JobDoc]]:
        """``claim_jobs(kind.worker_names, kind.job_classes, now, limits)`` for each of
        ``kinds`` (whose job classes do not overlap: thread jobs, coroutine jobs), with its
        guarantees, in one round trip where the engine allows: one transaction on SQLite,
        one statement on PostgreSQL (when ``limits`` apply there, each kind's throttled
        claim in turn); MongoDB claims document by document anyway. Returns each kind's
        jobs, in claim order."""

    def finish_jobs(self, finished: Sequence[Finish]) -> list[str]:
        """Write the outcomes of many claimed jobs in one transaction where possible.

        Returns the ids whose outcome was written (the others were no longer running on
        their worker: aborted, paused or re-queued meanwhile)."""

    def finish_and_claim(
        self,
        finished: Sequence[Finish],
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> tuple[list[str], list[JobDoc]]:
        """``finish_jobs(finished)`` then ``claim_jobs(worker_names, job_classes, now,
        limits)``, with the guarantees of both (outcomes compare and set, no job handed to
        two callers, limits respected): one transaction and one commit where the engine
        allows (SQLite, PostgreSQL), each document atomic on its own where it does not
        (MongoDB). Returns the ids written and the jobs claimed, in claim order. With no
        ``worker_names`` it only finishes."""

    def requeue_jobs(self, server_name: str) -> int:
        """Move every running job of ``server_name`` back to queued (worker and server
        cleared); return how many."""

    def wait_for_jobs(self, timeout: float) -> None:
        """Block for at most ``timeout`` seconds, returning early when jobs may have been
        queued (another process committed, a NOTIFY arrived). May return early
        spuriously; never blocks longer than ``timeout``."""

    def delete_jobs(self, states: Collection[str], finished_before: dt.datetime, limit: int) -> int:
        """Delete at most ``limit`` jobs in ``states`` whose completed_at is before
        ``finished_before`` (one short transaction); return how many."""

    # -- dirmon entries ---------------------------------------------------------
    def insert_dirmon_entry(self, entry: Mapping[str, Any]) -> None:
        """Store a new entry (keys of DIRMON_FIELDS); a duplicate name raises
        ValidationError."""

    def list_dirmon_entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""

    def update_dirmon_entry(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry; False when no such entry exists."""

    def delete_dirmon_entry(self, name: str) -> bool:
        """Delete the entry; False when no such entry exists."""

    # -- servers --------------------------------------------------------------
    def register_server(self, doc: ServerDoc) -> None:
        """Insert (or replace) the server document ``doc``."""

    def heartbeat_server(self, name: str, changes: Mapping[str, Any]) -> ServerDoc | None:
        """Apply ``changes`` (always including heartbeat_at) to the server and take its
        pending commands: the returned document holds them in ``commands`` and the store
        clears them. Returns None if the server document is gone (it was declared dead)."""

    def send_command(self, name: str, command: ServerCommand) -> bool:
        """Append ``command`` (stored as its value) to the server's command list; False if
        no such server."""

    def list_servers(self) -> list[ServerDoc]:
        """Every registered server, by name."""

    def remove_server(self, name: str) -> None:
        """Delete the server document (its jobs are not touched: see requeue_jobs)."""

    def reap_zombie_servers(self, cutoff: dt.datetime, heir: str) -> list[str]:
        """Atomically remove every server whose heartbeat_at is before ``cutoff`` and
        hand its running jobs to the server ``heir`` (the caller): their ``server_name``
        becomes ``heir``, their ``worker_name`` stays, so each job's requeue is still a
        compare-and-set on the worker that held it. The heir then re-queues them through
        their lifecycle (:func:`rocketjob.requeue.requeue_adopted`); a heir that dies
        first has them released with its own jobs. Of several callers racing, each
        zombie is reaped by exactly one. Returns the names reaped by this caller, in
        name order. (MongoDB: one write per zombie and one for its jobs.)"""

    # -- life cycle -----------------------------------------------------------
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""


@runtime_checkable
class MissionControlStore(Protocol):
    """Optional methods Mission Control (``rocketjob.web``) uses when a store has them.

    A store without them still works: Mission Control falls back to :class:`Store`
    methods (slower on large tables, and with no audit log persistence).
    """

    def prepare_mission_control(self) -> None:
        """Create the audit log and the indexes Mission Control needs; idempotent."""

    def add_audit(self, entry: Mapping[str, Any]) -> str:
        """Append ``{at, user, action, target, outcome, detail}``; return its id (ids grow
        with time)."""

    def list_audit(self, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
        """Audit entries newest first, keyset-paginated by id (``after`` = last id seen)."""

    def count_jobs_by_class(self) -> dict[str, dict[str, int]]:
        """``{job_class: {state: count}}`` over every job."""

    def count_scheduled(self, now: dt.datetime) -> dict[str, int]:
        """``{job_class: count}`` of queued jobs whose run_at is after ``now``."""

    def scan_jobs(
        self,
        query: JobQuery,
        *,
        text: str | None = None,
        scheduled: bool | None = None,
        now: dt.datetime | None = None,
        scan_limit: int = 20_000,
    ) -> tuple[list[JobDoc], str | None]:
        """``find_jobs`` plus unindexed predicates checked on at most ``scan_limit`` jobs in
        id order: ``text`` (case-insensitive substring of id, class, description,
        arguments, exception, worker name, custom fields) and ``scheduled`` (queued with
        run_at after ``now``, or not). Returns the matches and the id to continue after
        (None at the end)."""

    def finished_per_minute(self, since: dt.datetime) -> list[tuple[dt.datetime, str, int]]:
        """``(minute_start, state, count)`` of stored jobs whose completed_at is at or
        after ``since``, oldest minute first (needs an index on completed_at, state)."""

    def recent_timings(self, since: dt.datetime, limit: int = 5000) -> list[tuple[float, float]]:
        """``(run_seconds, wait_seconds)`` of the at most ``limit`` most recently finished
        stored jobs since ``since`` that had started: run = completed_at - started_at,
        wait = started_at - max(created_at, run_at)."""

    # -- server-side sessions and login throttling (tables made by prepare_mission_control)
    def add_web_session(self, session: Mapping[str, Any]) -> None:
        """Store a session ``{id, user, fingerprint, created_at, last_seen}`` (``id`` a
        random str, the datetimes aware)."""

    def get_web_session(self, session_id: str) -> dict[str, Any] | None:
        """The session stored with ``id`` (the keys given to :meth:`add_web_session`), or
        None."""

    def touch_web_session(self, session_id: str, last_seen: dt.datetime) -> None:
        """Set the session's ``last_seen`` (nothing when it is gone)."""

    def delete_web_session(self, session_id: str) -> bool:
        """Revoke one session; False when there was none."""

    def delete_web_sessions(self, user: str | None = None) -> int:
        """Revoke every session, or every session of ``user``; return how many."""

    def expire_web_sessions(
        self, last_seen_before: dt.datetime, created_before: dt.datetime
    ) -> int:
        """Delete sessions whose ``last_seen`` is before ``last_seen_before`` or whose
        ``created_at`` is before ``created_before``; return how many."""

    def add_login_failure(self, key: str, at: dt.datetime, forget_before: dt.datetime) -> int:
        """Atomically count one failed login for ``key`` at ``at``: the count starts again
        at 1 when the previous failure was before ``forget_before``. Return the new count
        (processes sharing the store see one counter)."""

    def get_login_failures(self, keys: Sequence[str]) -> dict[str, tuple[int, dt.datetime]]:
        """``{key: (failures, last_failure_at)}`` for those of ``keys`` with failures."""

    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures."""
