"""Coroutine jobs: ``async def perform`` run on an asyncio event loop in each worker.

A job class whose ``perform`` is a coroutine function is a *coroutine job*
(:func:`is_coroutine_job`): it is never run on a job thread (that would call
``perform``, get a coroutine object back, and report the job completed without ever
awaiting it). Each worker process runs one event loop with ``[worker] async_concurrency``
slots for them (:mod:`rocketjob.aio.runner`). See docs/jobs.md, "Coroutine jobs".
"""

from __future__ import annotations

from rocketjob.aio.kinds import (
    NotAwaitedError,
    coroutine_job_classes,
    is_coroutine_job,
    thread_job_classes,
)

__all__ = ["NotAwaitedError", "coroutine_job_classes", "is_coroutine_job", "thread_job_classes"]
