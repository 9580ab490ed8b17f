"""Running one claimed coroutine job to its stored outcome outside a worker (for
:mod:`rocketjob.testing`): the worker's own task code (:class:`rocketjob.aio.task.JobTask`)
on a fresh event loop in a helper thread, so it works whether or not the caller's
thread already runs a loop (an async test)."""

from __future__ import annotations

import asyncio
import threading

from rocketjob.aio.slots import Slots
from rocketjob.aio.task import JobTask, TaskContext
from rocketjob.aio.writer import AsyncCommitter
from rocketjob.lifecycle import OnError
from rocketjob.stats import JobStats
from rocketjob.store import JobDoc, Store


def run_coroutine_job(store: Store, doc: JobDoc, on_error: OnError) -> None:
    """Run the claimed coroutine job ``doc`` as a worker's event loop would; returns
    once its outcome is stored (and its after-callbacks ran)."""
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(_run(store, doc, on_error))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=serve, name="rocketjob-aio-local")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def _run(store: Store, doc: JobDoc, on_error: OnError) -> None:
    committer = AsyncCommitter(store, lambda names: None, lambda docs: None)
    slots = Slots(doc["worker_name"].rsplit(":", 1)[0], 0, threading.Event())
    try:
        await JobTask(TaskContext(store, committer, JobStats(), on_error, slots), doc).run()
    finally:
        committer.close()
