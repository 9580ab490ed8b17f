"""The Job model: a job is a document in the store and a Python object with a ``perform``.

::

    class ImportJob(Job):
        priority = 30
        def perform(self, file_name: str) -> None: ...

    job = ImportJob.perform_later("file.csv")
    job.reload().state          # JobState.COMPLETED once a worker ran it
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from loguru import logger as _logger

from rocketjob import codec, state, timing
from rocketjob.async_api import AsyncActions
from rocketjob.awaiting import run_to_completion
from rocketjob.behaviours import Behaviours
from rocketjob.bulk import BulkActions
from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.corrupt import load_corrupt
from rocketjob.enqueue import Enqueuer, check_priority
from rocketjob.errors import InvalidTransition, JobNotFound, ValidationError
from rocketjob.fields import FieldSpec, collect_fields
from rocketjob.hooks import JobHooks
from rocketjob.lifecycle import Lifecycle
from rocketjob.state import JobState
from rocketjob.store import JobDoc, JobQuery
from rocketjob.store.job_fields import BUILTIN_FIELDS
from rocketjob.timeouts import check_timeout

_RESERVED = frozenset(BUILTIN_FIELDS) | {"fields", "logger", "timeout"}
#: Built-ins stored as they are (the others are converted by ``load_doc``).
_PLAIN_FIELDS = tuple(
    name for name in BUILTIN_FIELDS if name not in ("state", "exception", "result", "arguments")
)

#: The key of a job document's ``fields`` holding the job's own ``timeout`` (set(timeout=...)).
TIMEOUT_KEY = "_timeout"

if TYPE_CHECKING:
    from loguru import Logger

    from rocketjob.typed import PerformLater, PerformNow, SetOptions

#: dotted class path -> job class, filled as job classes are defined.
REGISTRY: dict[str, type[Job]] = {}


def class_path(cls: type) -> str:
    """The dotted path a worker uses to find ``cls``: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_class(path: str) -> type[Job] | None:
    """The job class at ``path``, importing its module if needed; None if unknown."""
    cls = REGISTRY.get(path)
    if cls is not None:
        return cls
    module, _, _ = path.rpartition(".")
    try:
        importlib.import_module(module)
    except Exception:
        return None
    return REGISTRY.get(path)


class JobException:
    """The exception a failed job keeps: class name, message, backtrace, worker."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.class_name: str = data.get("class_name", "")
        self.message: str = data.get("message", "")
        self.backtrace: list[str] = list(data.get("backtrace") or [])
        self.worker_name: str | None = data.get("worker_name")

    def as_dict(self) -> dict[str, Any]:
        """The JSON-safe form stored in the job document."""
        return {
            "class_name": self.class_name,
            "message": self.message,
            "backtrace": self.backtrace,
            "worker_name": self.worker_name,
        }

    def __repr__(self) -> str:
        return f"<JobException {self.class_name}: {self.message}>"


class Job(Lifecycle, Behaviours, BulkActions, AsyncActions):
    """Base class of every job. Subclasses define ``perform``, class defaults and
    behaviours (retry, cron, singleton, throttles, processing window: see
    :mod:`rocketjob.plugins`, which plug in through :data:`HOOKS`)."""

    # Class defaults, overridable per subclass and per instance.
    priority: int = 50
    destroy_on_complete: bool = True
    collect_output: bool = False
    description: str | None = None
    log_level: str | None = None
    #: Seconds one run may take (None: no limit); ``set(timeout=...)`` per job. See
    #: rocketjob.timeouts: JobTimeout in the job's thread at the limit, its worker
    #: process killed and replaced ``[worker] timeout_grace`` seconds later.
    timeout: ClassVar[float | None] = None

    _custom_fields: ClassVar[dict[str, FieldSpec]] = {}
    _job_class_path: ClassVar[str] = "rocketjob.job.Job"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_priority(cls.priority, f"{cls.__qualname__}.priority")
        check_timeout(cls.timeout, f"{cls.__qualname__}.timeout")
        HOOKS.define(cls)
        cls._custom_fields = {**cls._custom_fields, **collect_fields(cls, _RESERVED)}
        cls._job_class_path = class_path(cls)
        REGISTRY[cls._job_class_path] = cls

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        self.id: str | None = None
        self.job_class: str = cls._job_class_path
        self.arguments: dict[str, Any] = {"args": [], "kwargs": {}}
        self.description = cls.description
        self.priority = cls.priority
        self.run_at: dt.datetime | None = None
        self.expires_at: dt.datetime | None = None
        self.destroy_on_complete = cls.destroy_on_complete
        self.collect_output = cls.collect_output
        self.result: Any = None
        self.state: JobState = JobState.QUEUED
        self.created_at: dt.datetime | None = None
        self.started_at: dt.datetime | None = None
        self.completed_at: dt.datetime | None = None
        self.failure_count = 0
        self.crash_count = 0
        self.worker_name: str | None = None
        self.server_name: str | None = None
        self.percent_complete = 0
        self._exception: dict[str, Any] | None = None
        self.log_level = cls.log_level
        self.singleton_key: str | None = None
        self.attempts: list[dict[str, Any]] | None = None  # failed attempts (rocketjob.attempts)
        self.trace_context: dict[str, str] | None = None  # the enqueuer's (rocketjob.otel)
        for spec in cls._custom_fields.values():
            setattr(self, spec.name, spec.initial())
        for name, value in values.items():
            if name == "timeout":  # this job's own limit, kept in its fields as _timeout
                check_timeout(value, "timeout")
                self.__dict__["_timeout"] = value
                continue
            if name not in BUILTIN_FIELDS and name not in cls._custom_fields:
                raise ValidationError(unknown_field_message(cls, name))
            setattr(self, name, value)

    # -- enqueueing ---------------------------------------------------------------
    if TYPE_CHECKING:  # typed by perform's signature (rocketjob.typed); classmethods at run time
        set = SetOptions()
        perform_later = PerformLater()
        perform_now = PerformNow()
    else:

        @classmethod
        def set(cls, **options: Any) -> Enqueuer[Self]:
            """Per-instance options (priority, run_at, expires_at, custom fields, PostgreSQL
            ``connection``) for the enqueue that follows:
            ``Job.set(priority=5).perform_later()``."""
            return Enqueuer(cls, options)

        @classmethod
        def perform_later(cls, *args: Any, **kwargs: Any) -> Self:
            """Store a new queued job that calls ``perform(*args, **kwargs)``; return it."""
            return Enqueuer(cls, {}).perform_later(*args, **kwargs)

        @classmethod
        def perform_now(cls, *args: Any, **kwargs: Any) -> object:
            """Run ``perform`` inline with its perform callbacks; nothing is stored. Returns
            perform()'s value and raises its errors."""
            job = cls()
            job.arguments = {"args": list(args), "kwargs": dict(kwargs)}
            if inspect.iscoroutinefunction(cls.perform):  # a coroutine job: awaited to the end
                from rocketjob.aio.callbacks import arun_perform

                return run_to_completion(
                    arun_perform(job), f"{cls.__qualname__}.perform",
                    f"`await {cls.__qualname__}.aperform_now(...)`",
                )  # fmt: skip
            return job.run_perform()

    @classmethod
    def perform_all_later(cls, arguments: Iterable[Any], **options: Any) -> list[Self]:
        """Store one job per item of ``arguments`` (a tuple of positional arguments, or a
        dict of keyword arguments) in one round trip; all or none are stored."""
        return Enqueuer(cls, options).perform_all_later(arguments)

    @classmethod
    def create(cls, **values: Any) -> Self:
        """Store a new queued job with the given fields (built-in and custom)."""
        return Enqueuer(cls, {}).create(**values)

    # -- queries --------------------------------------------------------------------
    @classmethod
    def find(cls, job_id: str) -> Self:
        """The job with ``job_id``; raises JobNotFound (also, called on a subclass, when
        that job is not of this class)."""
        return cls._found(job_id, current_store().get_job(job_id))

    @classmethod
    def _found(cls, job_id: str, doc: JobDoc | None) -> Self:
        """What :meth:`find` (and ``afind``) returns for the stored ``doc`` of ``job_id``."""
        if doc is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        job = Job.from_doc(doc)
        if not isinstance(job, cls):
            raise JobNotFound(f"job {job_id!r} is a {job.job_class}, not a {cls._job_class_path}")
        return job

    @classmethod
    def where(
        cls,
        state: str | Iterable[str] | None = None,
        job_class: str | type | None = None,
        *,
        after: str | None = None,
        limit: int | None = 1000,
        descending: bool = False,
    ) -> list[Job]:
        """Jobs filtered by state(s) and class (path or class; called on a subclass, that
        class), in id order with keyset pagination (``after`` = last id seen)."""
        states = [state] if isinstance(state, str) else (list(state) if state else None)
        if isinstance(job_class, type):
            job_class = class_path(job_class)
        if job_class is None and cls is not Job:
            job_class = cls._job_class_path
        query = JobQuery(states, job_class, after=after, limit=limit, descending=descending)
        return [Job.from_doc(doc) for doc in current_store().find_jobs(query)]

    @classmethod
    def counts_by_state(cls) -> dict[str, int]:
        """Number of jobs per state (of this class when called on a subclass)."""
        return current_store().count_jobs(None if cls is Job else cls._job_class_path)

    # -- persistence ------------------------------------------------------------------
    @staticmethod
    def from_doc(doc: JobDoc) -> Job:
        """An instance of the job's own class (or of Job when that class is unknown
        here) holding the document's values."""
        cls = resolve_class(doc["job_class"]) or Job
        job = cls.__new__(cls)
        # load_doc sets every built-in field; only custom fields need their defaults
        # (Job.__init__ would set all of them first: per-job churn on the claim path).
        for spec in cls._custom_fields.values():
            setattr(job, spec.name, spec.initial())
        job.load_doc(doc)
        return job

    def load_doc(self, doc: JobDoc) -> None:
        """Replace this instance's values with those of a stored document."""
        values = self.__dict__  # built-ins are plain attributes: no setattr per field
        get = doc.get
        for name in _PLAIN_FIELDS:
            values[name] = get(name)
        try:
            if type(doc) is codec.CorruptDoc:
                raise ValueError("a stored value cannot be read")
            state = doc["state"]
            self.state = state if type(state) is JobState else JobState(state)
            self.arguments = codec.decode(doc["arguments"])
            self.result = codec.decode(doc["result"])
            self._exception = doc["exception"]
            for name, value in (doc.get("fields") or {}).items():
                setattr(self, name, codec.decode(value))
        except Exception:  # a corrupt row: loaded with placeholders, never raised
            load_corrupt(self, doc)

    @property
    def time_limit(self) -> float | None:
        """Seconds this job may run: its own ``set(timeout=...)``, else its class's
        ``timeout`` (None: no limit)."""
        limit: float | None = self.__dict__.get("_timeout", type(self).timeout)
        return limit

    @property
    def corruption(self) -> tuple[str, str] | None:
        """``(field, reason)`` when this job's stored document could not be decoded (a
        bad manual edit, disk corruption), else None. Such a job holds placeholders
        (empty arguments, no result); a worker fails it with rocketjob.CorruptJob."""
        found: tuple[str, str] | None = self.__dict__.get("_corruption")
        return found

    def to_doc(self) -> JobDoc:
        """The store document of this job; raises ValidationError for unstorable data."""
        doc: JobDoc = {name: getattr(self, name) for name in BUILTIN_FIELDS}
        doc["state"] = str(self.state)
        doc["arguments"] = codec.encode(self.arguments, "arguments")
        doc["result"] = codec.encode(self.result, "result")
        doc["exception"] = self._exception
        doc["fields"] = fields = {
            name: codec.encode(getattr(self, name), name) for name in type(self)._custom_fields
        }
        if TIMEOUT_KEY in self.__dict__:  # this job's own time limit (rocketjob.timeouts)
            fields[TIMEOUT_KEY] = self.__dict__[TIMEOUT_KEY]
        return doc

    def reload(self) -> Self:
        """Re-read this job from the store and return it. A job destroyed on completion
        reads as completed; one discarded unrun at expiry (last seen queued, its
        ``expires_at`` passed) keeps its state and reads as ``expired``, never completed."""
        return self._reloaded(current_store().get_job(self._require_id()))

    def _reloaded(self, doc: JobDoc | None) -> Self:
        """This job updated from its stored ``doc`` (:meth:`reload` and ``areload``)."""
        if doc is None:
            if self.state == JobState.QUEUED and self.expired:
                return self
            if self.destroy_on_complete:
                self.state = JobState.COMPLETED
                self.percent_complete = 100
                return self
            raise JobNotFound(f"no job with id {self.id!r}")
        self.load_doc(doc)
        return self

    def save(self, **changes: Any) -> Self:
        """Set and store the given fields (``job.save(percent_complete=40)``); returns self."""
        store_changes: dict[str, Any] = {}
        for name, value in changes.items():
            setattr(self, name, value)
            if name in type(self)._custom_fields:
                store_changes.setdefault("fields", {})
            elif name in ("priority", "percent_complete", "description", "log_level",
                          "run_at", "expires_at"):  # fmt: skip
                store_changes[name] = value
            else:
                raise ValidationError(f"field {name!r} cannot be changed with save()")
        if "priority" in changes:
            check_priority(self.priority, "priority")
        if "fields" in store_changes:
            store_changes["fields"] = self.to_doc()["fields"]
        if self.id is not None and store_changes:
            doc = current_store().update_job(self.id, store_changes)
            if doc is None:
                raise JobNotFound(f"no job with id {self.id!r}")
        return self

    def destroy(self) -> None:
        """Delete this job from the store."""
        current_store().delete_job(self._require_id())

    def _require_id(self) -> str:
        if self.id is None:
            raise JobNotFound("this job was never stored (perform_now or not yet enqueued)")
        return self.id

    # -- reading ------------------------------------------------------------------------
    @property
    def exception(self) -> JobException | None:
        """The last failure's exception, or None."""
        return None if self._exception is None else JobException(self._exception)

    @property
    def logger(self) -> Logger:
        """A loguru logger bound to this job."""
        return _logger.bind(job_id=self.id, job_class=self.job_class, worker_name=self.worker_name)

    @property
    def scheduled(self) -> bool:
        """Queued with a run_at in the future."""
        return self.state == JobState.QUEUED and self.run_at is not None and self.run_at > utcnow()

    @property
    def expired(self) -> bool:
        """Past its expires_at (an expired job is destroyed, never run)."""
        return self.expires_at is not None and self.expires_at <= utcnow()

    def status(self) -> dict[str, Any]:
        """A JSON-safe dict of everything Mission Control shows about this job."""
        doc = self.to_doc()
        out: dict[str, Any] = {}
        for name, value in doc.items():
            out[name] = value.isoformat() if isinstance(value, dt.datetime) else value
        out["scheduled"] = self.scheduled
        out["expired"] = self.expired
        if self.corruption is not None:
            out["corrupt"] = "{}: {}".format(*self.corruption)
        now = utcnow()
        out.update(timing.job_times(doc, now))
        retry_at = timing.next_retry_at(str(self.state), self.failure_count, self.run_at, now)
        out["next_retry_at"] = retry_at.isoformat() if retry_at else None
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} id={self.id} state={self.state}>"

    # -- where behaviours plug in (HOOKS) ------------------------------------------------
    def run_build_hooks(self, now: dt.datetime) -> None:
        """Let the behaviours fill derived fields of a new job (singleton key, a cron
        job's run_at)."""
        HOOKS.build(self, now)

    def deferred_until(self, now: dt.datetime) -> dt.datetime | None:
        """When a job claimed at ``now`` may not run yet (outside its processing window),
        the time to re-schedule it to; None to run it now."""
        return HOOKS.defer(self, now)

    def _after_event(self, event: str, now: dt.datetime, by_worker: bool) -> None:
        HOOKS.after(self, event, now, by_worker)


#: Where behaviours plug into every job class (rocketjob.plugins registers into it).
HOOKS: JobHooks[Job] = JobHooks()


def unknown_field_message(cls: type[Job], name: str) -> str:
    """Why ``name`` is not a field of ``cls``: a near miss of a known field or option
    (``prority``) is named; anything else is told how to declare a custom field."""
    known = [*BUILTIN_FIELDS, *cls._custom_fields, "connection"]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    if close:
        return f"{cls.__qualname__} has no field {name!r}: did you mean {close[0]!r}?"
    return (
        f"{cls.__qualname__} has no field {name!r}; declare it as a class annotation "
        f"(for example `{name}: str = ''`)"
    )


def transition_error(job: Job, event: str) -> InvalidTransition:
    """The InvalidTransition for firing ``event`` on ``job`` in its current state."""
    return InvalidTransition(event, str(job.state), job.id)


__all__ = ["BUILTIN_FIELDS", "HOOKS", "Job", "JobException", "JobState", "resolve_class", "state"]
