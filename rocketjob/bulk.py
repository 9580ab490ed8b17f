"""Acting on every job of a class at once, through the state machine (callbacks run,
and a job that changed state meanwhile is skipped, never overwritten)::

    ImportJob.pause_all()          # queued -> paused
    ImportJob.resume_all()         # paused -> queued
    ImportJob.retry_all_failed()   # failed -> queued
    ImportJob.abort_all_failed()   # failed -> aborted

Each returns how many jobs it moved. Jobs are read in pages of ``page_size`` (keyset
pagination), so any number of jobs is handled in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rocketjob.errors import InvalidTransition, JobNotFound
from rocketjob.lifecycle import Lifecycle


class BulkActions:
    """Class-wide events, mixed into :class:`rocketjob.Job`."""

    @classmethod
    def where(
        cls,
        state: str | Iterable[str] | None = None,
        job_class: str | type | None = None,
        *,
        after: str | None = None,
        limit: int | None = 1000,
        descending: bool = False,
    ) -> Sequence[Lifecycle]:
        """Jobs by state and class, in id order (Job implements it)."""
        raise NotImplementedError

    @classmethod
    def fire_all(
        cls, state: str, event: str, page_size: int = 500, job_class: str | None = None
    ) -> int:
        """Fire ``event`` on every job of this class (or of the dotted path
        ``job_class``) in ``state``; how many moved."""
        if job_class is None and cls.__name__ == "Job" and cls.__module__ == "rocketjob.job":
            raise ValueError("fire_all on Job needs job_class= (a dotted path)")
        moved = 0
        after: str | None = None
        while True:
            page = cls.where(state, job_class, after=after, limit=page_size)
            for job in page:
                action: Callable[[], object] = getattr(job, event)  # may be overridden
                try:
                    action()
                    moved += 1
                except (InvalidTransition, JobNotFound):
                    continue  # changed or gone meanwhile
            if len(page) < page_size:
                return moved
            after = page[-1].id

    @classmethod
    def pause_all(cls) -> int:
        """Pause every queued job of this class; how many were paused."""
        return cls.fire_all("queued", "pause")

    @classmethod
    def resume_all(cls) -> int:
        """Resume every paused job of this class; how many were resumed."""
        return cls.fire_all("paused", "resume")

    @classmethod
    def retry_all_failed(cls) -> int:
        """Retry every failed job of this class; how many were re-queued."""
        return cls.fire_all("failed", "retry")

    @classmethod
    def abort_all_failed(cls) -> int:
        """Abort every failed job of this class; how many were aborted."""
        return cls.fire_all("failed", "abort")
