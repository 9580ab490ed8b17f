"""Re-queueing the running jobs of a worker process that died or was drained.

The jobs go through their lifecycle (:meth:`rocketjob.lifecycle.Lifecycle.requeue_released`),
so ``before_requeue`` and ``after_requeue`` run, each job's write a compare-and-set of
its own. Used by the supervisor when a worker exits (a crash, a kill) and by a worker at
the end of its drain (jobs still running at ``drain_timeout``).

A job whose class cannot be found here (its module does not import in this process) is
re-queued without callbacks, by the store's ``requeue_jobs``, which also catches every
job of the server the per-job writes missed: no job is ever left running on a server
that is gone. Callback errors are logged and never stop a requeue.
"""

from __future__ import annotations

from rocketjob.job import resolve_class
from rocketjob.lifecycle import Lifecycle, OnError
from rocketjob.log import logger
from rocketjob.store.base import JobQuery, Store
from rocketjob.store.slices import SliceStore


def log_callback_error(job: Lifecycle, name: str, exc: Exception) -> None:
    """The default ``on_error``: log the callback error (the requeue goes on)."""
    logger.error("job callback failed", job_id=job.id, callback=name, error=repr(exc))


def requeue_server_jobs(
    store: Store, server_name: str, on_error: OnError = log_callback_error
) -> int:
    """Move every running job of ``server_name`` back to queued, firing requeue through
    each job's lifecycle when its class is known here; return how many were moved.

    Round trips: one read of the server's running jobs, one write per job of a known
    class, and one bulk ``requeue_jobs`` for the rest (usually none)."""
    query = JobQuery(states=["running"], server_name=server_name, limit=None)
    moved = 0
    for doc in store.find_jobs(query):
        cls = resolve_class(doc["job_class"])
        if cls is None:
            continue  # unknown here: requeued below, without callbacks
        try:
            job = cls.from_doc(doc)
        except Exception as exc:  # a document this code cannot read: requeued below
            logger.error("job not loaded for requeue", job_id=doc["id"], error=repr(exc))
            continue
        if job.requeue_released(store, on_error):
            moved += 1
    if isinstance(store, SliceStore):  # batch job slices running there (rocketjob.batch)
        slices = store.requeue_slices(server_name)
        if slices:
            logger.info("batch slices re-queued", server=server_name, slices=slices)
    return moved + store.requeue_jobs(server_name)
