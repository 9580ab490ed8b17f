"""Building and storing new jobs: ``perform_later``, ``set(...)``, ``create``, bulk.

Everything is validated before anything is written, so invalid input raises
ValidationError and stores nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from rocketjob import codec, sizes
from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.errors import DuplicateJob, ValidationError
from rocketjob.fields import FieldSpec, check_values
from rocketjob.ids import new_id
from rocketjob.store.base import JobBatch, JobDoc

#: Called with the documents of every enqueue just before they are stored (a JobBatch for
#: a bulk enqueue); ``rocketjob.otel.instrument()`` adds the trace-context stamp.
BEFORE_INSERT: list[Callable[[Sequence[JobDoc]], None]] = []
#: Called with the jobs of every ``perform_later``, ``perform_all_later`` and ``create``
#: once they are stored; ``rocketjob.testing.inline()`` runs them at once.
AFTER_ENQUEUE: list[Callable[[Sequence[NewJob]], None]] = []

LOG_LEVELS = ("trace", "debug", "info", "success", "warning", "error", "critical")
_TIME_OPTIONS = ("run_at", "expires_at")


def check_priority(value: Any, where: str = "priority") -> None:
    """Raise ValidationError unless ``value`` is an int from 1 (highest) to 100."""
    if type(value) is not int or not 1 <= value <= 100:
        raise ValidationError(f"{where} must be an integer from 1 (highest) to 100, got {value!r}")


def _item_arguments(i: int, item: Any) -> dict[str, Any]:
    """perform's arguments for item ``i`` of a bulk enqueue."""
    if isinstance(item, Mapping):
        return {"args": [], "kwargs": dict(item)}
    if isinstance(item, tuple | list):
        return {"args": list(item), "kwargs": {}}
    raise ValidationError(
        f"perform_all_later item {i}: expected a tuple of arguments or a dict of keyword "
        f"arguments, got {type(item).__name__}; wrap one argument as (value,)"
    )


def _check_time(name: str, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return utcnow() + value
    if not isinstance(value, dt.datetime):
        raise ValidationError(f"{name} must be a datetime or timedelta, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{name} must be timezone-aware (for example datetime.now(UTC))")
    return value.astimezone(dt.UTC)


class NewJob(Protocol):
    """What the enqueuer needs of a job class (:class:`rocketjob.Job` has it); the
    job model is typed against this, so enqueue does not import the job module."""

    _custom_fields: ClassVar[dict[str, FieldSpec]]
    cron_schedule: ClassVar[str | None]
    id: str | None
    arguments: dict[str, Any]
    priority: int
    log_level: str | None
    created_at: dt.datetime | None

    def __init__(self, **values: Any) -> None: ...

    def to_doc(self) -> JobDoc:
        """The store document of the job."""
        ...

    def run_build_hooks(self, now: dt.datetime) -> None:
        """Let the behaviours fill derived fields of a new job."""
        ...


J = TypeVar("J", bound=NewJob)


class Enqueuer(Generic[J]):
    """A job class with per-instance options, returned by ``Job.set(...)``."""

    def __init__(self, cls: type[J], options: Mapping[str, Any]) -> None:
        self.cls = cls
        options = dict(options)
        self.connection = options.pop("connection", None)
        check_values(cls, options)
        self.options = options

    def set(self, **options: Any) -> Enqueuer[J]:
        """More options on top of these."""
        return Enqueuer(self.cls, {**self.options, "connection": self.connection, **options})

    def perform_later(self, *args: Any, **kwargs: Any) -> J:
        """Store one job calling ``perform(*args, **kwargs)``; return it."""
        job, doc = self.build({"args": list(args), "kwargs": dict(kwargs)}, {})
        self._insert([doc])
        if AFTER_ENQUEUE:
            _enqueued([job])
        return job

    async def aperform_later(self, *args: Any, **kwargs: Any) -> J:
        """``perform_later`` without blocking the event loop: built and validated here,
        stored through the store's async driver (see rocketjob.async_api)."""
        job, doc = self.build({"args": list(args), "kwargs": dict(kwargs)}, {})
        await self._ainsert([doc])
        if AFTER_ENQUEUE:  # rocketjob.testing.inline(): the jobs run on a thread, as before
            await asyncio.to_thread(_enqueued, [job])
        return job

    def perform_all_later(self, arguments: Iterable[Any]) -> list[J]:
        """Store one job per item (tuple/list of args, or dict of kwargs), all or none.

        The first item's job is built and validated in full; every other one is a copy
        of it with its own id and arguments (class, options and behaviours are the same
        for all), so a batch costs little Python per job."""
        jobs, batch = self._build_all(arguments)
        if batch is not None:
            self._insert(batch)
        if jobs and AFTER_ENQUEUE:
            _enqueued(jobs)
        return jobs

    async def aperform_all_later(self, arguments: Iterable[Any]) -> list[J]:
        """``perform_all_later`` without blocking the event loop: the jobs are built on a
        thread (CPU work in proportion to their number), then stored through the store's
        async driver."""
        jobs, batch = await asyncio.to_thread(self._build_all, list(arguments))
        if batch is not None:
            await self._ainsert(batch)
        if jobs and AFTER_ENQUEUE:
            await asyncio.to_thread(_enqueued, jobs)
        return jobs

    def _build_all(self, arguments: Iterable[Any]) -> tuple[list[J], JobBatch | None]:
        """The jobs of a bulk enqueue and their documents (None when there is none)."""
        items = [_item_arguments(i, item) for i, item in enumerate(arguments)]
        if not items:
            return [], None
        first, first_doc = self.build(items[0], {}, where="item 0: ")
        jobs, ids, encoded = [first], [str(first_doc["id"])], [first_doc["arguments"]]
        fresh = [spec for name, spec in self.cls._custom_fields.items() if name not in self.options]
        new = self.cls.__new__
        shared = first.__dict__
        fields_size = sizes.encoded_size(first_doc["fields"])
        for i in range(1, len(items)):
            try:
                encoded.append(arguments := codec.encode(items[i], "arguments"))
                size = sizes.encoded_size(arguments) + fields_size
                sizes.check_size(size, "the job's arguments and fields")
            except ValidationError as exc:
                raise ValidationError(f"{self.cls.__qualname__}: item {i}: {exc}") from None
            job = new(self.cls)
            job.__dict__.update(shared)
            for spec in fresh:  # mutable defaults are never shared between jobs
                setattr(job, spec.name, spec.initial())
            job.id = job_id = new_id()
            job.arguments = items[i]
            jobs.append(job)
            ids.append(job_id)
        return jobs, JobBatch(first_doc, ids, encoded)

    def create(self, **values: Any) -> J:
        """Store one job with the given built-in and custom fields (``args=[...]`` and
        ``kwargs={...}`` set perform's arguments)."""
        arguments = {"args": list(values.pop("args", [])), "kwargs": dict(values.pop("kwargs", {}))}
        check_values(self.cls, values)
        job, doc = self.build(arguments, values)
        self._insert([doc])
        if AFTER_ENQUEUE:
            _enqueued([job])
        return job

    def _insert(self, docs: Sequence[JobDoc]) -> None:
        """Store ``docs``; a singleton (or cron) class with an active instance raises
        DuplicateJob naming the class."""
        for hook in BEFORE_INSERT:
            hook(docs)
        try:
            current_store().insert_jobs(docs, connection=self.connection)
        except DuplicateJob:
            raise self._duplicate() from None

    async def _ainsert(self, docs: Sequence[JobDoc]) -> None:
        """:meth:`_insert` on the store's async driver: awaited on the caller's loop
        (PostgreSQL, MongoDB); on a thread for SQLite and for a caller's (blocking)
        psycopg ``connection``."""
        for hook in BEFORE_INSERT:
            hook(docs)
        store = current_store()
        try:
            if self.connection is None and store.async_jobs is not None:
                await store.async_jobs.insert_jobs(docs)
            else:
                await asyncio.to_thread(store.insert_jobs, docs, connection=self.connection)
        except DuplicateJob:
            raise self._duplicate() from None

    def _duplicate(self) -> DuplicateJob:
        what = "cron" if self.cls.cron_schedule else "singleton"
        return DuplicateJob(
            f"{self.cls.__qualname__} is a {what} job class: another instance is "
            "already queued, running or paused (at most one at a time); nothing was stored"
        )

    def build(
        self, arguments: dict[str, Any], values: Mapping[str, Any], where: str = ""
    ) -> tuple[J, JobDoc]:
        """A new, validated, unsaved job and its store document."""
        fields = {**self.options, **values}
        for name in _TIME_OPTIONS:
            if name in fields:
                fields[name] = _check_time(where + name, fields[name])
        try:
            job = self.cls(**fields)
            check_priority(job.priority)
            if job.log_level is not None and str(job.log_level).lower() not in LOG_LEVELS:
                raise ValidationError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
            job.arguments = arguments
            job.id = new_id()
            job.created_at = utcnow()
            job.run_build_hooks(job.created_at)
            doc = job.to_doc()
            size = sizes.encoded_size(doc["arguments"]) + sizes.encoded_size(doc["fields"])
            sizes.check_size(size, "the job's arguments and fields")
        except ValidationError as exc:
            raise ValidationError(f"{self.cls.__qualname__}: {where}{exc}") from None
        return job, doc


def _enqueued(jobs: Sequence[NewJob]) -> None:
    for hook in list(AFTER_ENQUEUE):
        hook(jobs)
