"""The job life cycle: the one place every state change is built and its callbacks fired.

:data:`rocketjob.state.EVENTS` says which states an event may come from and where it
leads; :meth:`Lifecycle.event_changes` builds what the event writes. Three paths write
it, and each one runs ``before_<event>``, the write, ``after_<event>``, then the
behaviours registered in ``rocketjob.job.HOOKS``:

* the public events (``job.retry()``, ``pause``, ``resume``, ``abort``, ``fail``,
  ``requeue``): :meth:`Lifecycle.fire`, a compare-and-set on the states the event may
  come from. An event not allowed from the current state raises InvalidTransition and
  changes nothing;
* a worker's outcomes (``complete``, ``fail``, ``expire``, ``reschedule``):
  :meth:`Lifecycle.worker_outcome` builds the :class:`~rocketjob.store.Finish` the
  worker's group commit writes, :meth:`Lifecycle.outcome_written` runs what follows;
* the runtime's requeue of a dead or drained worker's jobs:
  :meth:`Lifecycle.requeue_released`.

``start`` is written by the store's claim (``Store.claim_jobs``), so its callbacks run
after it (:meth:`Lifecycle.run_start`). At run time, errors of callbacks that cannot
stop the event (anything but ``before_start``, ``before_perform``... ``before_complete``)
are reported to an ``on_error`` function and never raised.
"""

from __future__ import annotations

import datetime as dt
import inspect
import traceback
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from rocketjob import attempts, codec, sizes, state
from rocketjob.awaiting import run_to_completion
from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.errors import InvalidTransition, JobNotFound
from rocketjob.state import JobState
from rocketjob.store.base import Finish, JobDoc, Store

#: Reports an error the runtime must not stop for: (job, callback or hook name, error).
OnError = Callable[["Lifecycle", str, Exception], None]
_REQUEUE_SOURCES = [str(s) for s in state.sources("requeue")]
#: Callback names per event, built once (the worker's hot path formats none per job).
_BEFORE = {event: f"before_{event}" for event in state.EVENTS}
_AFTER = {event: f"after_{event}" for event in state.EVENTS}


def exception_dict(exc: BaseException, worker_name: str | None) -> dict[str, Any]:
    """The stored form of an exception: class name, message, full backtrace."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    lines = "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")
    return {"class_name": name, "message": str(exc), "backtrace": lines, "worker_name": worker_name}


class Lifecycle:
    """Events and callbacks: the base of :class:`rocketjob.Job`. Callbacks are optional
    methods a job class defines (``before_<event>``, ``after_<event>``, ...)."""

    #: Whether a running job may be paused (it should then check ``reload().paused``).
    pausable: ClassVar[bool] = False

    # Fields of the job (set by Job.__init__ and Job.load_doc).
    id: str | None
    state: JobState
    run_at: dt.datetime | None
    worker_name: str | None
    failure_count: int
    percent_complete: int
    arguments: dict[str, Any]
    result: Any
    destroy_on_complete: bool
    collect_output: bool
    _exception: dict[str, Any] | None

    # -- what the job model provides (rocketjob.job.Job) ---------------------------
    def perform(self, *args: Any, **kwargs: Any) -> object:
        """The work. Override it in every job class; its value is the job's result."""
        raise NotImplementedError(f"{type(self).__qualname__} must define perform()")

    def load_doc(self, doc: JobDoc) -> None:
        """Replace this instance's values with those of a stored document."""
        raise NotImplementedError

    def reload(self) -> Self:
        """Re-read this job from the store and return it."""
        raise NotImplementedError

    def _after_event(self, event: str, now: dt.datetime, by_worker: bool) -> None:
        """Run the behaviours after an event (Job runs ``HOOKS.after_event``)."""

    # -- states -------------------------------------------------------------------------
    @property
    def queued(self) -> bool:
        """state is queued"""
        return self.state == JobState.QUEUED

    @property
    def running(self) -> bool:
        """state is running"""
        return self.state == JobState.RUNNING

    @property
    def completed(self) -> bool:
        """state is completed"""
        return self.state == JobState.COMPLETED

    @property
    def failed(self) -> bool:
        """state is failed"""
        return self.state == JobState.FAILED

    @property
    def paused(self) -> bool:
        """state is paused"""
        return self.state == JobState.PAUSED

    @property
    def aborted(self) -> bool:
        """state is aborted"""
        return self.state == JobState.ABORTED

    # -- callbacks --------------------------------------------------------------------
    def run_perform(self) -> object:
        """before_perform, around_perform(perform), after_perform; returns the result."""
        args = self.arguments.get("args", [])
        kwargs = self.arguments.get("kwargs", {})
        self.run_callback("before_perform")
        around: Callable[[Callable[[], object]], object] | None = getattr(
            self, "around_perform", None
        )
        if around is None:
            result = self.perform(*args, **kwargs)
        else:
            result = around(lambda: self.perform(*args, **kwargs))
        self.run_callback("after_perform")
        return result

    def run_callback(self, name: str) -> None:
        """Call the method ``name`` if this job class defines it. An ``async def``
        callback reached outside an event loop (a requeue by the supervisor, a thread
        job) is run to completion (rocketjob.awaiting)."""
        method = getattr(self, name, None)
        if method is not None:
            result = method()
            if result is not None and inspect.isawaitable(result):
                run_to_completion(result, f"{type(self).__qualname__}.{name}")

    def _callback(self, name: str, on_error: OnError | None) -> None:
        """Run a callback; with ``on_error`` its error is reported instead of raised."""
        if on_error is None:
            self.run_callback(name)
            return
        try:
            self.run_callback(name)
        except Exception as exc:  # a user callback at run time: reported, counted
            on_error(self, name, exc)

    def _after(self, event: str, now: dt.datetime, by_worker: bool, on: OnError | None) -> None:
        """``after_<event>``, then the behaviours."""
        self._callback(_AFTER[event], on)
        self.run_behaviours(event, now, by_worker, on)

    def run_behaviours(
        self, event: str, now: dt.datetime, by_worker: bool, on: OnError | None
    ) -> None:
        """The behaviours after ``event`` (errors reported to ``on``, or raised)."""
        if on is None:
            self._after_event(event, now, by_worker)
            return
        try:
            self._after_event(event, now, by_worker)
        except Exception as exc:  # a store or user error in a behaviour: reported
            on(self, f"behaviours after {event}", exc)

    # -- the one place each event's write is built ------------------------------------
    def event_changes(
        self,
        event: str,
        now: dt.datetime,
        *,
        result: Any = None,
        exc: BaseException | None = None,
        run_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The fields ``event`` writes, ``state`` included (see rocketjob.state.EVENTS)."""
        changes: dict[str, Any]
        if event == "complete":
            changes = {"completed_at": now, "percent_complete": 100}
            if self.collect_output:
                changes["result"] = encoded = codec.encode(result, "result")
                sizes.check_size(sizes.encoded_size(encoded), "the job's result")
        elif event == "fail":
            if exc is None:
                raise ValueError("the fail event needs the exception (exc=...)")
            changes = {
                "exception": exception_dict(exc, self.worker_name),
                "failure_count": self.failure_count + 1,
                "completed_at": now,
            }
            changes["attempts"] = attempts.after_failure(self, changes)
        elif event == "retry":
            changes = {"run_at": run_at, "completed_at": None}
        elif event == "abort":
            changes = {"completed_at": now}
        elif event in ("requeue", "reschedule"):
            changes = state.requeue_changes()  # the state is set below, from the table
            if event == "reschedule":
                changes["run_at"] = run_at
        else:
            changes = {}
        to = state.EVENTS[event].target
        if to is not None:
            changes["state"] = str(to)
        return changes

    def _take(self, event: str, changes: Mapping[str, Any]) -> None:
        """Hold the values ``event`` wrote (``changes``) on this object."""
        values = self.__dict__
        for name, value in changes.items():
            if name == "exception":
                self._exception = value
            elif name == "result":
                self.result = codec.decode(value)
            elif name != "state":
                values[name] = value
        to = state.EVENTS[event].target
        if to is not None:
            self.state = to
        if event == "complete":
            self.percent_complete = 100

    # -- the public events -----------------------------------------------------------------
    def retry(self, run_at: dt.datetime | None = None) -> Self:
        """failed -> queued, optionally to run at ``run_at``."""
        return self.fire("retry", run_at=run_at)

    def pause(self) -> Self:
        """queued -> paused (running -> paused too when the class is pausable)."""
        return self.fire("pause")

    def resume(self) -> Self:
        """paused -> queued."""
        return self.fire("resume")

    def abort(self) -> Self:
        """queued, running, failed or paused -> aborted (final)."""
        return self.fire("abort")

    def fail(self, exc: BaseException) -> Self:
        """queued, running or paused -> failed, keeping ``exc`` and its backtrace."""
        return self.fire("fail", exc=exc)

    def requeue(self) -> Self:
        """running -> queued (its worker is gone or released it)."""
        return self.fire("requeue")

    def run_now(self) -> Self:
        """Clear a scheduled job's run_at so the next free worker runs it."""
        if self.state != JobState.QUEUED:
            raise InvalidTransition("run_now", str(self.state), self.id)
        self.run_at = None
        if self.id is not None:
            doc = current_store().update_job(self.id, {"run_at": None}, from_states=["queued"])
            if doc is None:
                self.reload()
                raise InvalidTransition("run_now", str(self.state), self.id)
            self.load_doc(doc)
        return self

    def allowed_sources(self, event: str) -> frozenset[JobState]:
        """The states ``event`` may be fired from for this job class."""
        sources = state.sources(event)
        if event == "pause" and not self.pausable:
            sources = sources - {JobState.RUNNING}
        return sources

    def fire(
        self, event: str, *, run_at: dt.datetime | None = None, exc: BaseException | None = None
    ) -> Self:
        """Run a public ``event``: callbacks around a compare-and-set write of it."""
        sources = self.allowed_sources(event)
        if self.state not in sources:
            raise InvalidTransition(event, str(self.state), self.id)
        self.run_callback(f"before_{event}")
        now = utcnow()
        changes = self.event_changes(event, now, exc=exc, run_at=run_at)
        if self.id is None:
            self._take(event, changes)
            self.run_callback(f"after_{event}")
            return self
        store = current_store()
        doc = store.update_job(self.id, changes, from_states=sources)
        if doc is None:
            fresh = store.get_job(self.id)
            if fresh is None:
                raise JobNotFound(f"no job with id {self.id!r}")
            self.load_doc(fresh)
            raise InvalidTransition(event, str(self.state), self.id)
        self.load_doc(doc)
        self._after(event, now, False, None)
        return self

    # -- the runtime's events ----------------------------------------------------------------
    def run_start(self) -> None:
        """The start callbacks of a claimed job (the claim wrote queued -> running)."""
        self.run_callback("before_start")
        self.run_callback("after_start")

    def worker_outcome(
        self,
        event: str,
        worker: str,
        now: dt.datetime,
        on_error: OnError | None = None,
        *,
        result: Any = None,
        exc: BaseException | None = None,
        run_at: dt.datetime | None = None,
    ) -> Finish:
        """Run ``before_<event>`` (its error raised, or reported to ``on_error``) and
        build the worker's write of ``event`` (complete, fail, expire, reschedule), which
        the worker's group commit stores. An expired job, and a completed one that is
        destroyed on completion and keeps no output, is deleted."""
        self._callback(_BEFORE[event], on_error)
        return self.outcome_finish(event, worker, now, result=result, exc=exc, run_at=run_at)

    def outcome_finish(
        self,
        event: str,
        worker: str,
        now: dt.datetime,
        *,
        result: Any = None,
        exc: BaseException | None = None,
        run_at: dt.datetime | None = None,
    ) -> Finish:
        """The worker's write of ``event`` (no callback): see :meth:`worker_outcome`."""
        job_id = self.id or ""
        if event == "expire" or (
            event == "complete" and self.destroy_on_complete and not self.collect_output
        ):
            return Finish(job_id, worker, destroy=True)
        changes = self.event_changes(event, now, result=result, exc=exc, run_at=run_at)
        return Finish(job_id, worker, changes=changes)

    def outcome_written(
        self, event: str, finish: Finish, now: dt.datetime, on_error: OnError
    ) -> None:
        """The worker's ``finish`` of ``event`` is stored: hold its values, run
        ``after_<event>`` and the behaviours (errors reported, never raised)."""
        self.hold_outcome(event, finish)
        self._after(event, now, True, on_error)

    def hold_outcome(self, event: str, finish: Finish) -> None:
        """Hold the values the stored ``finish`` of ``event`` wrote on this object."""
        self._take(event, finish.changes)

    def fail_released(
        self, store: Store, exc: BaseException, on_error: OnError, *, crash_count: int | None = None
    ) -> bool:
        """The runtime's failure of this running job, whose worker process was killed
        past its time limit (JobTimeout) or died once too often while running it
        (WorkerCrashed, with its ``crash_count``): ``before_fail``, a compare-and-set
        write (still running on the same worker), ``after_fail``, the behaviours (so
        ``retry_limit`` applies). False when the job was no longer running there."""
        if self.id is None:
            return False
        self._callback("before_fail", on_error)
        now = utcnow()
        changes = self.event_changes("fail", now, exc=exc)
        if crash_count is not None:
            changes["crash_count"] = crash_count
        doc = store.update_job(
            self.id, changes, from_states=[str(JobState.RUNNING)], worker_name=self.worker_name
        )
        if doc is None:
            return False
        self.load_doc(doc)
        self._after("fail", now, True, on_error)
        return True

    def requeue_released(
        self,
        store: Store,
        on_error: OnError,
        *,
        crash_count: int | None = None,
        run_at: dt.datetime | None = None,
    ) -> bool:
        """The runtime's requeue of this running job, whose worker died or was drained:
        ``before_requeue``, a compare-and-set write (still running on the same worker),
        ``after_requeue``, the behaviours. Callback errors are reported and never stop
        the requeue. False when the job was no longer running on that worker."""
        if self.id is None:
            return False
        self._callback(_BEFORE["requeue"], on_error)
        now = utcnow()
        changes = self.event_changes("requeue", now)
        if crash_count is not None:  # its worker died while running it (crash accounting)
            changes["crash_count"] = crash_count
            changes["run_at"] = run_at
        doc = store.update_job(
            self.id, changes, from_states=_REQUEUE_SOURCES, worker_name=self.worker_name
        )
        if doc is None:
            return False
        self.load_doc(doc)
        self._after("requeue", now, True, on_error)
        return True
