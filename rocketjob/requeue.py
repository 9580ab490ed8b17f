"""Re-queueing the running jobs of a worker process that died, was drained, or whose host
went silent.

The jobs go through their lifecycle (:meth:`rocketjob.lifecycle.Lifecycle.requeue_released`),
so ``before_requeue`` and ``after_requeue`` run, each job's write a compare-and-set of
its own (still running on the worker that held it). Used by the supervisor when a worker
exits (a crash, a kill), by a worker at the end of its drain (jobs still running at
``drain_timeout``), and by a live worker for the jobs of the zombie servers it reaped
(:func:`requeue_adopted`).

A job whose class cannot be found here (its module does not import in this process) is
re-queued without callbacks (logged): for a dead or drained worker by the store's
``requeue_jobs``, which also catches every job of the server the per-job writes missed,
for a zombie's job by the same compare-and-set as the others. No job is ever left
running on a server that is gone. Callback errors are logged and never stop a requeue.
"""

from __future__ import annotations

from rocketjob import state
from rocketjob.job import resolve_class
from rocketjob.lifecycle import Lifecycle, OnError
from rocketjob.log import logger
from rocketjob.store.base import JobDoc, JobQuery, Store
from rocketjob.store.slices import SliceStore, server_of

_REQUEUE_SOURCES = [str(source) for source in state.sources("requeue")]


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
    moved = sum(_requeue_known(store, doc, on_error) is True for doc in store.find_jobs(query))
    if isinstance(store, SliceStore):  # batch job slices running there (rocketjob.batch)
        slices = store.requeue_slices(server_name)
        if slices:
            logger.info("batch slices re-queued", server=server_name, slices=slices)
    return moved + store.requeue_jobs(server_name)


def requeue_adopted(store: Store, heir: str, on_error: OnError = log_callback_error) -> int:
    """Re-queue the jobs the server ``heir`` took over from the zombie servers it reaped
    (``Store.reap_zombie_servers(cutoff, heir)``): its running jobs whose worker is
    another server's. Each goes through its lifecycle when its class is known here,
    otherwise through the same compare-and-set without callbacks (logged). A job that is
    no longer running on its worker (it finished meanwhile) is left as it is. Returns how
    many were re-queued.

    Round trips: one read of ``heir``'s running jobs (its own few included), one write
    per adopted job."""
    query = JobQuery(states=["running"], server_name=heir, limit=None)
    moved = 0
    for doc in store.find_jobs(query):
        worker = doc["worker_name"]
        if worker is not None and server_of(worker) == heir:
            continue  # one of its own
        done = _requeue_known(store, doc, on_error)
        if done is None:
            done = store.update_job(
                doc["id"], state.requeue_changes(), from_states=_REQUEUE_SOURCES,
                worker_name=worker,
            ) is not None  # fmt: skip
            if done:
                logger.warning(
                    "job re-queued without callbacks: its class is not importable here",
                    job_id=doc["id"], job_class=doc["job_class"],
                )  # fmt: skip
        moved += done
    return moved


def _requeue_known(store: Store, doc: JobDoc, on_error: OnError) -> bool | None:
    """Re-queue the running job ``doc`` through its lifecycle: True when written, False
    when it was no longer running on its worker, None when its class or document cannot
    be loaded here (the caller re-queues it without callbacks)."""
    cls = resolve_class(doc["job_class"])
    if cls is None:
        return None
    try:
        job = cls.from_doc(doc)
    except Exception as exc:  # a document this code cannot read: re-queued by the caller
        logger.error("job not loaded for requeue", job_id=doc["id"], error=repr(exc))
        return None
    return job.requeue_released(store, on_error)
