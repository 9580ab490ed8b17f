"""The job model's extension points: behaviours plug into the job here.

The job model (``rocketjob.job``, ``lifecycle``, ``enqueue``) calls these hooks and
imports no behaviour; the behaviours (:mod:`rocketjob.plugins`) import the job model and
register into ``rocketjob.job.HOOKS`` when they are imported (``import rocketjob`` does
it). So the dependency is one-way: behaviours -> job model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Generic, TypeVar

J = TypeVar("J")


class JobHooks(Generic[J]):
    """Lists of functions the job model calls, in registration order.

    * ``class_defined(cls)``: a job class was defined; raise ValidationError to refuse it.
    * ``building(job, now)``: a new job is about to be stored (fill derived fields).
    * ``deferral(job, now)``: a claimed job is about to run; return a time to re-schedule
      it to instead (a processing window), or None to run it now.
    * ``after_event(job, event, now, by_worker)``: an event was written and its
      ``after_<event>`` callback ran; ``by_worker`` is true for a worker's outcome.
    """

    def __init__(self) -> None:
        self.class_defined: list[Callable[[type[J]], None]] = []
        self.building: list[Callable[[J, dt.datetime], None]] = []
        self.deferral: list[Callable[[J, dt.datetime], dt.datetime | None]] = []
        self.after_event: list[Callable[[J, str, dt.datetime, bool], None]] = []

    def define(self, cls: type[J]) -> None:
        """Run the ``class_defined`` hooks."""
        for hook in self.class_defined:
            hook(cls)

    def build(self, job: J, now: dt.datetime) -> None:
        """Run the ``building`` hooks."""
        for hook in self.building:
            hook(job, now)

    def defer(self, job: J, now: dt.datetime) -> dt.datetime | None:
        """The first time a ``deferral`` hook gives, or None."""
        for hook in self.deferral:
            when = hook(job, now)
            if when is not None:
                return when
        return None

    def after(self, job: J, event: str, now: dt.datetime, by_worker: bool) -> None:
        """Run the ``after_event`` hooks."""
        for hook in self.after_event:
            hook(job, event, now, by_worker)
