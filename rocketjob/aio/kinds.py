"""The two kinds of job: thread jobs (``def perform``) and coroutine jobs
(``async def perform``), told apart once, at import, from the class itself."""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from rocketjob.errors import RocketJobError
from rocketjob.job import Job, resolve_class


class NotAwaitedError(RocketJobError, TypeError):
    """A job thread got an awaitable back from ``perform``: it is failed with this
    error rather than reported completed without the work ever running."""


def is_coroutine_job(cls: type[Job] | None) -> bool:
    """True when ``cls.perform`` is an ``async def`` (a coroutine job)."""
    return cls is not None and inspect.iscoroutinefunction(getattr(cls, "perform", None))


def coroutine_job_classes(paths: Iterable[str]) -> list[str]:
    """The dotted paths among ``paths`` whose class is a coroutine job."""
    return [path for path in paths if is_coroutine_job(resolve_class(path))]


def thread_job_classes(paths: Iterable[str]) -> list[str]:
    """The dotted paths among ``paths`` whose class runs on a job thread."""
    return [path for path in paths if not is_coroutine_job(resolve_class(path))]


def refuse_awaitable(job: Job, result: object) -> object:
    """``result`` itself, unless it is an awaitable (a coroutine job run on a thread, or
    a ``def perform`` returning a coroutine): then close it and raise NotAwaitedError, so
    the job fails instead of being reported completed without the work being done."""
    if not inspect.isawaitable(result):
        return result
    close = getattr(result, "close", None)
    if close is not None:
        close()  # no "coroutine was never awaited" warning: we say it ourselves
    raise NotAwaitedError(
        f"{type(job).__qualname__}.perform returned an awaitable on a job thread; "
        "declare it `async def perform` so the worker's event loop awaits it "
        "(docs/jobs.md, Coroutine jobs)"
    )
