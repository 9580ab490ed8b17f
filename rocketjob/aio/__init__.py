"""Coroutine jobs: ``async def perform`` run on an asyncio event loop in each worker.

A job class whose ``perform`` is a coroutine function is a *coroutine job*
(:func:`rocketjob.aio.kinds.is_coroutine_job`): it is never run on a job thread (that
would call ``perform``, get a coroutine object back, and report the job completed
without ever awaiting it). Each worker process runs one event loop with ``[worker]
async_concurrency`` slots for them (:mod:`rocketjob.aio.runner`). See docs/jobs.md,
"Coroutine jobs". This package imports nothing itself, so the job model may import its
lifecycle helpers (:mod:`rocketjob.aio.callbacks`) without an import cycle.
"""
