"""The group commit of coroutine jobs' outcomes, without blocking the event loop.

Tasks that finish at about the same time share one store transaction, as job threads
do (:class:`rocketjob.executor.GroupCommitter`): the first outcome starts a flush; every
outcome that arrives while a write is in flight joins the next one. The store call runs
on one dedicated thread (``run_in_executor``), so the loop never waits on the database,
and one batch is in flight at a time. When the store can ``finish_and_claim``, the same
transaction claims the next coroutine job for each slot whose outcome it writes; those
jobs are handed over (``on_claimed``) before the tasks are told their outcome is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rocketjob.executor import ClaimAhead
from rocketjob.store import Finish, JobDoc, Store


class AsyncCommitter:
    """Coalesces the outcomes of a loop's tasks into few transactions."""

    def __init__(
        self,
        store: Store,
        claim_ahead: Callable[[list[str]], ClaimAhead | None],
        on_claimed: Callable[[list[JobDoc]], None],
    ) -> None:
        self._store = store
        self._claim_ahead: Callable[[list[str]], ClaimAhead | None] | None = claim_ahead
        self._on_claimed = on_claimed
        self._pending: list[tuple[Finish, asyncio.Future[bool]]] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rocketjob-aio-commit")
        #: Transactions and outcomes written (for the benchmark's batch size figure).
        self.transactions = self.outcomes = 0

    async def commit(self, item: Finish) -> bool:
        """Write ``item``; True if it was applied (the job was still ours). Raises the
        store's error (every outcome of the failed batch gets it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((item, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(0)  # tasks finishing in this loop iteration join
            while self._pending:
                batch, self._pending = self._pending, []
                items = [item for item, _ in batch]
                try:
                    written, docs = await loop.run_in_executor(self._pool, self._write, items)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                if docs:
                    self._on_claimed(docs)
                for item, future in batch:
                    if not future.done():
                        future.set_result(item.job_id in written)
        finally:
            self._flushing = False

    def _write(self, items: list[Finish]) -> tuple[set[str], list[JobDoc]]:
        """On the commit thread: one transaction writing ``items`` (and claiming)."""
        self.transactions += 1
        self.outcomes += len(items)
        request = self._claim_ahead([i.worker_name for i in items]) if self._claim_ahead else None
        if request is None:
            return set(self._store.finish_jobs(items)), []
        done, docs = self._store.finish_and_claim(
            items, request.worker_names, request.job_classes, request.now, request.limits
        )
        return set(done), list(docs)

    def close(self) -> None:
        """Stop the commit thread (after the loop's tasks are done)."""
        self._pool.shutdown(wait=True)
