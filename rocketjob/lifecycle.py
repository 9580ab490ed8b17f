"""The job state machine and its callbacks, mixed into :class:`rocketjob.Job`.

Every event (``start``, ``complete``, ``fail``, ``retry``, ``pause``, ``resume``,
``abort``, ``requeue``) runs ``before_<event>``, writes the new state with a
compare-and-set on the states it may come from, then runs ``after_<event>``. An event
not allowed from the current state raises InvalidTransition and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rocketjob import state
from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.errors import InvalidTransition, JobNotFound
from rocketjob.state import JobState

if TYPE_CHECKING:
    from rocketjob.job import Job


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
    """Events and callbacks. Callbacks are optional methods a job class defines."""

    # Fields of the Job this is mixed into.
    id: str | None
    state: JobState
    run_at: dt.datetime | None
    worker_name: str | None
    failure_count: int
    arguments: dict[str, Any]

    def run_perform(self: Job) -> Any:  # type: ignore[misc]
        """before_perform, around_perform(perform), after_perform; returns the result."""
        args = self.arguments.get("args", [])
        kwargs = self.arguments.get("kwargs", {})
        self.run_callback("before_perform")
        around: Callable[..., Any] | None = getattr(self, "around_perform", None)
        if around is None:
            result = self.perform(*args, **kwargs)
        else:
            result = around(lambda: self.perform(*args, **kwargs))
        self.run_callback("after_perform")
        return result

    def run_callback(self, name: str) -> None:
        """Call the method ``name`` if this job class defines it."""
        method = getattr(self, name, None)
        if method is not None:
            method()

    # -- public events ------------------------------------------------------------
    def retry(self: Job, run_at: Any = None) -> Job:  # type: ignore[misc]
        """failed -> queued, optionally to run at ``run_at``."""
        return self.fire("retry", {"run_at": run_at, "completed_at": None})

    def pause(self: Job) -> Job:  # type: ignore[misc]
        """queued -> paused (running -> paused too when the class is pausable)."""
        return self.fire("pause", {})

    def resume(self: Job) -> Job:  # type: ignore[misc]
        """paused -> queued."""
        return self.fire("resume", {})

    def abort(self: Job) -> Job:  # type: ignore[misc]
        """queued, running, failed or paused -> aborted (final)."""
        return self.fire("abort", {"completed_at": utcnow()})

    def fail(self: Job, exc: BaseException) -> Job:  # type: ignore[misc]
        """queued, running or paused -> failed, keeping ``exc`` and its backtrace."""
        changes = {
            "exception": exception_dict(exc, self.worker_name),
            "failure_count": self.failure_count + 1,
            "completed_at": utcnow(),
        }
        return self.fire("fail", changes)

    def requeue(self: Job) -> Job:  # type: ignore[misc]
        """running -> queued (its worker is gone or released it)."""
        changes = {"worker_name": None, "server_name": None, "started_at": None}
        return self.fire("requeue", changes)

    def run_now(self: Job) -> Job:  # type: ignore[misc]
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

    # -- machinery -------------------------------------------------------------------
    def allowed_sources(self, event: str) -> frozenset[JobState]:
        """The states ``event`` may be fired from for this job class."""
        sources = state.sources(event)
        if event == "pause" and not getattr(self, "pausable", False):
            sources = sources - {JobState.RUNNING}
        return sources

    def fire(self: Job, event: str, changes: dict[str, Any]) -> Job:  # type: ignore[misc]
        """Run ``event``: callbacks around a compare-and-set write of the new state."""
        sources = self.allowed_sources(event)
        if self.state not in sources:
            raise InvalidTransition(event, str(self.state), self.id)
        self.run_callback(f"before_{event}")
        changes = {**changes, "state": str(state.target(event))}
        if self.id is None:
            for name, value in changes.items():
                setattr(self, "_exception" if name == "exception" else name, value)
            self.state = state.target(event)
        else:
            doc = current_store().update_job(self.id, changes, from_states=sources)
            if doc is None:
                fresh = current_store().get_job(self.id)
                if fresh is None:
                    raise JobNotFound(f"no job with id {self.id!r}")
                self.load_doc(fresh)
                raise InvalidTransition(event, str(self.state), self.id)
            self.load_doc(doc)
        self.run_callback(f"after_{event}")
        if self.id is not None:
            from rocketjob.plugins import hooks

            hooks.after_event(self, event, utcnow())
        return self
