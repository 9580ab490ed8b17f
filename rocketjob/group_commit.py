"""Group commit: callers that write at about the same time share one transaction.

Two writers use it: a worker's job outcomes (:class:`rocketjob.executor.GroupCommitter`)
and the enqueues of the SQLite and PostgreSQL stores (:class:`GroupInserts`, with
:mod:`rocketjob.store.sqlite.enqueue` and :mod:`rocketjob.store.postgres.enqueue` saying
how each writes a batch). A commit waits
for the disk (an ``fdatasync`` of the WAL, about 0.1 ms on the development VM) or for a
round trip to the database server, so callers queueing for one commit each would each
wait for every commit before theirs; sharing one costs about as much as one of them.

How a batch forms
    * A caller brings its item and waits on its own wake-up (a lock held until it is
      released), so no thundering herd on a shared condition: ``notify_all`` was a third
      of the drain's GIL time (docs/performance.md).
    * The first caller that may lead (fewer than ``max_writers`` batches in flight,
      nobody lingering) leads: while ``all_in(pending)`` says more callers are coming it
      waits for them, at most ``linger`` seconds, then takes everything pending as one
      batch and writes it, lock not held. Callers arriving meanwhile wait for the next.
    * After the write, the batch's callers are woken, each with its own outcome, and the
      lead is handed to the first pending caller: the writer's place stays taken until it
      has written, so the callers released meanwhile queue behind it instead of each
      starting a batch of its own (8 threads enqueueing on SQLite: 4,500 transactions
      for 20,000 jobs with the hand-over, 5,000-6,000 without, and a third more CPU).

Outcomes
    The batch writer sets each slot's ``written`` or ``error`` (with a ``SAVEPOINT`` per
    caller, a duplicate fails only its caller). When the whole write fails, every caller
    of the batch gets the error; when the leading thread is interrupted
    (``KeyboardInterrupt``), it raises that and the others get a StoreError: no caller is
    told its item was written unless the commit succeeded. A caller interrupted while it
    waits withdraws its item if it is still pending (nothing of it is written) and passes
    the lead on if it had been handed it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from rocketjob.errors import StoreError

T = TypeVar("T")

#: How long a waiting caller sleeps before it looks again whether it may lead: a bound on
#: what a lost wake-up could cost, never reached in normal operation (every batch hands
#: the lead on).
RECHECK_SECONDS = 1.0


class Slot(Generic[T]):
    """One caller's item and, once its batch is written, its outcome."""

    __slots__ = ("done", "error", "item", "lead", "taken", "wake", "written")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False  # its batch was written (or failed): the caller may go on
        self.taken = False  # in a batch being written
        self.lead = False  # handed the lead (and the writer's place) by the last batch
        self.written = False  # set by the batch writer: the item's write applied
        self.error: BaseException | None = None  # set on failure: raised to the caller
        self.wake = threading.Lock()  # a binary semaphore: released to wake its caller
        self.wake.acquire()

    def signal(self) -> None:
        """Wake the slot's caller; a wake-up already pending is enough (it re-checks)."""
        try:  # noqa: SIM105 (the hot path: no contextlib object per wake-up)
            self.wake.release()
        except RuntimeError:
            pass  # already released and not yet consumed: the caller re-checks anyway


class GroupCommit(Generic[T]):
    """Leader/follower batching of concurrent writes (see the module docstring).

    ``write(batch)`` writes the items of ``batch`` in one transaction and sets each slot's
    ``written`` (and ``error`` for a caller-specific failure); an exception it raises
    fails the whole batch. ``all_in(pending)``, asked with the lock held, says whether
    every expected caller has arrived (None: never wait for more).
    """

    def __init__(
        self,
        write: Callable[[list[Slot[T]]], None],
        *,
        all_in: Callable[[int], bool] | None = None,
        linger: float = 0.0,
        max_writers: int = 1,
    ) -> None:
        self._write = write
        self._expect = all_in
        self._linger = linger if all_in is not None else 0.0
        self._max_writers = max(1, max_writers)
        self._lock = threading.Lock()
        self._pending: list[Slot[T]] = []
        self._writers = 0  # batches being written, or handed to a caller to write
        self._lingering: Slot[T] | None = None  # the leader waiting for the others
        self.transactions = 0  # batches written (for tests and benchmarks)
        self.largest = 0  # the most callers one batch held

    @property
    def pending(self) -> int:
        """Callers waiting for a batch to take them."""
        return len(self._pending)

    def submit(self, item: T) -> bool:
        """Write ``item`` together with whatever else is pending; return once its batch
        is written: True if the item's write applied. Raises the item's error."""
        slot = Slot(item)
        batch = None
        with self._lock:
            self._pending.append(slot)
            leader = self._lingering
            if leader is not None and self._all_in():
                self._lingering = None  # the lingering leader writes: this caller waits
            else:
                leader = None
            may_lead = leader is None and self._may_lead(slot)
            if may_lead and self._all_in():
                batch = self._take(slot)  # nobody to wait for: lead at once
        if leader is not None:
            leader.signal()  # the last one it waited for
        try:
            if batch is not None:
                self._lead(batch)
            elif not may_lead:  # a batch is being written: wait for it to finish first
                slot.wake.acquire(timeout=RECHECK_SECONDS)
            self._wait_or_lead(slot)
        except BaseException:  # a signal's exception (KeyboardInterrupt) while waiting
            self._withdraw(slot)
            raise
        if slot.error is not None:
            raise slot.error
        return slot.written

    def write_batch(self, batch: list[Slot[T]]) -> None:
        """Write ``batch`` in one transaction (lock not held) and set each slot's outcome."""
        self.transactions += 1
        self.largest = max(self.largest, len(batch))
        try:
            self._write(batch)
        except Exception as exc:
            # Nothing of this transaction was committed: every caller hears of it.
            for slot in batch:
                slot.written, slot.error = False, exc if len(batch) == 1 else copy.copy(exc)
        except BaseException as exc:
            # The leading thread was interrupted (KeyboardInterrupt, SystemExit): it raises
            # that; the callers it wrote for get a StoreError, never a success.
            for slot in batch:
                slot.written = False
                slot.error = StoreError(f"not written: its writer stopped ({exc!r})")
            raise

    def _wait_or_lead(self, slot: Slot[T]) -> None:
        """Wait until ``slot`` is written, leading a batch when its turn comes."""
        deadline: float | None = None
        while not slot.done:  # set under the lock before the wake-up: no lock to read it
            wait, batch = RECHECK_SECONDS, None
            with self._lock:
                if slot.done:
                    return
                if self._may_lead(slot):
                    if self._linger:
                        now = time.monotonic()
                        deadline = now + self._linger if deadline is None else deadline
                        if deadline > now and not self._all_in():
                            self._lingering, wait = slot, deadline - now
                        else:
                            self._lingering, batch = None, self._take(slot)
                    else:
                        batch = self._take(slot)
            if batch is None:
                slot.wake.acquire(timeout=wait)
            else:
                self._lead(batch)

    def _lead(self, batch: list[Slot[T]]) -> None:
        """Write ``batch``, then release its callers and hand the lead on."""
        try:
            self.write_batch(batch)
        finally:
            self._release(batch)

    def _may_lead(self, slot: Slot[T]) -> bool:
        if slot.taken:
            return False
        return slot.lead or (self._writers < self._max_writers and self._lingering in (None, slot))

    def _all_in(self) -> bool:
        """With the lock held: every expected caller has brought its item."""
        return self._expect is None or self._expect(len(self._pending))

    def _take(self, leader: Slot[T]) -> list[Slot[T]]:
        """With the lock held: everything pending becomes ``leader``'s batch."""
        batch, self._pending = self._pending, []
        if leader.lead:
            leader.lead = False  # it holds the writer's place handed over with the lead
        else:
            self._writers += 1
        for slot in batch:
            slot.taken = True
        return batch

    def _release(self, batch: list[Slot[T]]) -> None:
        """Wake the batch's callers, and hand the lead to the first pending caller. Each
        caller has its own wake-up: no thundering herd."""
        with self._lock:
            for slot in batch:
                slot.done = True
            leader = self._pass_lead()
        if leader is not None:
            leader.signal()
        for slot in batch:
            slot.signal()

    def _pass_lead(self) -> Slot[T] | None:
        """With the lock held, by a holder of a writer's place: hand it, with the lead, to
        the first pending caller not leading yet; give it up when there is none."""
        leader = next((slot for slot in self._pending if not slot.lead), None)
        if leader is None:
            self._writers -= 1
        else:
            leader.lead = True
        return leader

    def _withdraw(self, slot: Slot[T]) -> None:
        """``slot``'s caller stopped waiting: take its item back if no batch has it yet
        (nothing of it is written), and pass the lead on if it held or was handed it."""
        with self._lock:
            if slot.taken:
                return  # being written or written: the outcome is set, nobody reads it
            if slot in self._pending:
                self._pending.remove(slot)
            lingering = self._lingering is slot
            if lingering:
                self._lingering = None  # the next caller may lead now: wake it to look
            if slot.lead:
                leader = self._pass_lead()
            else:
                leader = self._pending[0] if lingering and self._pending else None
        if leader is not None:
            leader.signal()


class GroupInserts(Generic[T]):
    """Concurrent inserts of one store written in shared transactions: what the SQLite
    and PostgreSQL enqueues share. A subclass says how one caller's item is written alone
    (:meth:`write_one`: the store's usual insert) and how the items of several callers
    are written together (:meth:`write_many`: it sets the ``error`` of each caller whose
    own item failed, so one caller's duplicate fails only that caller)."""

    def __init__(self) -> None:
        self._group: GroupCommit[T] = GroupCommit(self._write_batch)

    @property
    def transactions(self) -> int:
        """Transactions written (for tests and benchmarks)."""
        return self._group.transactions

    @property
    def largest(self) -> int:
        """The most callers one transaction held."""
        return self._group.largest

    @property
    def queued(self) -> int:
        """Callers waiting for the transaction that will write their items."""
        return self._group.pending

    def insert(self, item: T) -> None:
        """Store ``item`` (one caller's, all or none); return once committed. Raises the
        item's error."""
        self._group.submit(item)

    def write_batch(self, batch: list[Slot[T]]) -> None:
        """One transaction for ``batch``; sets each slot's outcome (error None: stored)."""
        self._group.write_batch(batch)

    def write_one(self, item: T) -> None:
        """Write one caller's ``item`` on its own (raise its error)."""
        raise NotImplementedError

    def write_many(self, batch: list[Slot[T]]) -> None:
        """Write the items of ``batch`` in one transaction, setting the ``error`` of each
        slot whose own item failed; raise when the whole transaction failed."""
        raise NotImplementedError

    def _write_batch(self, batch: list[Slot[T]]) -> None:
        if len(batch) == 1:
            self.write_one(batch[0].item)
        else:
            self.write_many(batch)
        for slot in batch:
            slot.written = slot.error is None


__all__ = ["GroupCommit", "GroupInserts", "Slot"]
