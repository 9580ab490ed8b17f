"""Releasing a dead worker's jobs through a short-lived store connection.

The supervisor holds no database client at fork: it opens the store at its config's URL,
re-queues the worker's running jobs through their lifecycle (``before_requeue`` and
``after_requeue`` run here, importing the job's module when needed; see
:mod:`rocketjob.requeue`), removes its server document, and closes the store again. That
store is the process's default store only for the release (``connection.using``), so a
callback that uses the Job API writes to it too; before and after, the supervisor has no
default store open.
"""

from __future__ import annotations

from rocketjob import connection
from rocketjob.batch import crashes as slice_crashes
from rocketjob.log import logger
from rocketjob.requeue import log_callback_error, requeue_server_jobs
from rocketjob.store import open_store
from rocketjob.supervisor import crashes
from rocketjob.supervisor.crashes import DeadWorker


def release_jobs(
    store_url: str, server_name: str, dead: DeadWorker | None = None, max_crashes: int = 3
) -> int | None:
    """Account for the jobs and slices ``dead`` was running (crash counts, time limits:
    see :mod:`rocketjob.supervisor.crashes`), re-queue the other running jobs and slices
    of ``server_name``, end the batch jobs whose last slice failed here, and remove its
    server; return how many jobs were re-queued, or None
    when the store could not be reached (live servers will reap it as a zombie after
    ``zombie_seconds``)."""
    try:
        with connection.using(store_url) as store:  # requeue callbacks may use the Job API
            released = crashes.Released()
            if dead is not None and dead.running:
                released = crashes.release(store, dead, max_crashes)
            requeued = len(released.crashed) + requeue_server_jobs(store, server_name)
            slice_crashes.end_batches(store, released.failed_batches(), server_name,
                                      log_callback_error)  # fmt: skip
            store.remove_server(server_name)
            return requeued
    except Exception as exc:  # boundary: the store may be down; zombie reaping covers it
        logger.error("could not release a dead worker's jobs", server=server_name, error=str(exc))
        return None


def check_store(store_url: str) -> None:
    """Open the store at ``store_url`` once and close it; raise StoreUnavailable when it
    cannot be reached. Nothing stays open."""
    open_store(store_url).close()
