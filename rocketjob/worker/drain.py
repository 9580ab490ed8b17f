"""Draining a worker: stop claiming, let running jobs finish, re-queue the rest.

A drain (TERM, ``servers stop``) waits up to ``[supervisor] drain_timeout`` for the job
threads; a stop now (QUIT, ``servers kill``), which may also arrive while draining, waits
for none. Heartbeats, commands and signals are still served meanwhile. Then the jobs still
held by this server are re-queued and its server document is removed.
"""

from __future__ import annotations

from collections.abc import Callable

from rocketjob.aio.runner import AsyncRunner
from rocketjob.clock import Clock
from rocketjob.errors import StoreError
from rocketjob.lifecycle import OnError
from rocketjob.log import logger
from rocketjob.requeue import requeue_server_jobs
from rocketjob.store import Store
from rocketjob.threads import JobThreads
from rocketjob.worker.claiming import TICK_SECONDS
from rocketjob.worker.commands import Controls


def drain(
    *,
    store: Store,
    threads: JobThreads,
    controls: Controls,
    clock: Clock,
    drain_timeout: float,
    serve: Callable[[], None],
    on_callback_error: OnError,
    aio: AsyncRunner | None = None,
) -> None:
    """Drain the worker; ``serve`` runs its periodic work (heartbeat, commands) while
    it waits. The jobs left are re-queued through their lifecycle (requeue callbacks
    run; their errors go to ``on_callback_error``). Coroutine jobs on the event loop
    ``aio`` get the same deadline; those still running then are cancelled and re-queued.
    Store errors at the end are logged: the server is then reaped as a zombie and its
    jobs re-queued by a live server."""
    server_name = threads.server_name
    logger.info("worker draining", server=server_name, busy=threads.busy)
    threads.stop()
    if aio is not None:
        aio.stop_claiming()
    finished = wait_for_threads(threads, controls, clock, drain_timeout, serve, aio)
    if aio is not None:  # coroutine jobs still running are cancelled, then re-queued
        aio.release()
    try:
        requeued = requeue_server_jobs(store, server_name, on_callback_error)
        store.remove_server(server_name)
    except StoreError as exc:
        logger.error("could not release jobs at stop", error=str(exc))
        return
    logger.info("worker stopped", server=server_name, requeued=requeued, clean=finished)


def wait_for_threads(
    threads: JobThreads,
    controls: Controls,
    clock: Clock,
    drain_timeout: float,
    serve: Callable[[], None],
    aio: AsyncRunner | None = None,
) -> bool:
    """Join the job threads (and wait for the coroutine jobs of ``aio``) until
    drain_timeout or a stop now; True if all ended."""
    start = clock.monotonic()
    while True:
        timeout = 0.0 if controls.stop_now else drain_timeout
        remaining = start + timeout - clock.monotonic()
        wait = min(TICK_SECONDS, max(0.0, remaining))
        if threads.join(wait) and (aio is None or aio.join(wait)):
            return True
        if remaining <= 0:
            return False
        serve()
