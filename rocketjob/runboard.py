"""Which jobs a worker process is *running*, in memory it shares with its supervisor.

Crash accounting (DESIGN "Fault containment") needs to know, after a worker died, which
of its jobs had started ``perform`` and which were merely claimed ahead: in the store both
are ``running`` on that server. Writing a "started" marker to the store would cost one
more write per job; instead each worker gets a *run board* from the supervisor: an
anonymous shared mapping (``mmap(-1, ...)``, created before the fork, so no file, thread
or descriptor is involved) with one slot per job thread and per event loop slot
(coroutine jobs, rocketjob.aio). A job thread (or task) writes its slot
when ``perform`` starts and clears it when the job ends; the supervisor reads the board
after the worker is reaped (the memory outlives the process) and at every turn of its
loop (hard time limits).

A slot holds the job id, when it started and, for a job with a ``timeout``, the time of
its *hard* limit (``timeout + timeout_grace``), all on ``time.monotonic()``: Linux's
CLOCK_MONOTONIC is the same clock in every process of the machine. Each slot is written
by one thread only; a sequence number (odd while a write is in progress) lets the reader
skip a slot caught mid-write.

A thread running a slice of a batch job (:mod:`rocketjob.batch.runner`) writes the batch
job's id, the slice's number and, before each record, the record's index in the slice:
one 8-byte store into the mapping (about 40 ns a record), read only after the worker
died, so a slice that killed its worker (or ran past its hard limit) is failed naming the
record that was running.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

#: seq (u32), slice number (u32, 0: a job), job id (32 bytes, ASCII), started (f64), hard
#: deadline (f64, 0: none), index of the slice's record running (i64, written on its own)
_SLOT = struct.Struct("<II32sddq")
_RECORD_OFFSET = 56
_SEQ = struct.Struct("<I")
#: The board starts with the worker's *last words*: why it is about to exit (an exception
#: and its backtrace), written synchronously before the process ends, read by the
#: supervisor after it is reaped. Log appenders deliver asynchronously and would lose it.
LAST_WORDS_BYTES = 8192


@dataclass(frozen=True)
class Running:
    """One job (or slice of a batch job) a worker was running: its id, thread slot,
    start and hard limit; for a slice, its number and the index of its record running."""

    job_id: str
    slot: int
    started: float
    hard_deadline: float | None
    slice: int = 0
    record: int = 0

    @property
    def key(self) -> str:
        """``job_id``, or ``job_id/slice`` for a slice: what a hard time limit names."""
        return f"{self.job_id}/{self.slice}" if self.slice else self.job_id


class RunBoard:
    """The running jobs of one worker process, one slot per job thread (and per event
    loop slot)."""

    def __init__(self, slots: int, recycles: int = 0) -> None:
        self.slots = slots
        #: Worker recycles its supervisor had done when this board's worker was forked
        #: (a plain attribute: the child gets its copy at the fork); for /metrics.
        self.recycles = recycles
        self._map = mmap.mmap(-1, LAST_WORDS_BYTES + max(1, slots) * _SLOT.size)
        self._seqs = [0] * max(1, slots)  # each slot's sequence number, as its writer knows it
        self._records: memoryview | None = None  # made in the worker only (see records())

    def write_last_words(self, text: str) -> None:
        """Why this worker process is about to exit (kept to LAST_WORDS_BYTES)."""
        data = text.encode("utf-8", errors="replace")[: LAST_WORDS_BYTES - 1]
        self._map[:LAST_WORDS_BYTES] = data + b"\0" * (LAST_WORDS_BYTES - len(data))

    def last_words(self) -> str:
        """What the worker wrote before it exited ("" if nothing)."""
        raw = self._map[:LAST_WORDS_BYTES]
        return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")

    def start(self, slot: int, job_id: str, started: float, hard_deadline: float | None,
              number: int = 0) -> None:  # fmt: skip
        """Thread ``slot`` (0-based) starts running ``job_id`` (slice ``number`` of it)."""
        self._write(slot, job_id.encode()[:32], started, hard_deadline or 0.0, number)

    def clear(self, slot: int) -> None:
        """Thread ``slot`` runs no job any more."""
        self._write(slot, b"", 0.0, 0.0)

    def _write(
        self, slot: int, job_id: bytes, started: float, deadline: float, number: int = 0
    ) -> None:
        # One pack_into (a 64-byte copy, about 0.3 µs): the sequence number goes odd only
        # across it, and a reader retries while it is odd or changed (see _read).
        offset = LAST_WORDS_BYTES + slot * _SLOT.size
        seq = self._seqs[slot] + 2
        self._seqs[slot] = seq
        _SEQ.pack_into(self._map, offset, seq - 1)
        _SLOT.pack_into(self._map, offset, seq, number, job_id, started, deadline, 0)

    def record_position(self, slot: int) -> int:
        """Where slot ``slot``'s record index is in :meth:`records`."""
        return (LAST_WORDS_BYTES + slot * _SLOT.size + _RECORD_OFFSET) // 8

    def records(self) -> memoryview:
        """The board as 8-byte integers, where a slice's thread notes the record it runs
        (see :func:`record_marks`). The view pins the mapping: only the worker makes it,
        never the supervisor, which closes boards."""
        if self._records is None:
            self._records = memoryview(self._map).cast("q")
        return self._records

    def running(self) -> list[Running]:
        """Every job running now (or when the process died), by slot."""
        found = []
        for slot in range(self.slots):
            entry = self._read(slot)
            if entry is not None:
                found.append(entry)
        return found

    def _read(self, slot: int) -> Running | None:
        offset = LAST_WORDS_BYTES + slot * _SLOT.size
        for _ in range(100):  # a writer holds a slot for a few hundred nanoseconds
            seq, number, raw_id, started, deadline, record = _SLOT.unpack_from(self._map, offset)
            if seq % 2 == 0 and _SEQ.unpack_from(self._map, offset)[0] == seq:
                break
        job_id = raw_id.rstrip(b"\0").decode("ascii", errors="replace")
        if not job_id:
            return None
        return Running(job_id, slot, started, deadline or None, number, record)

    def overdue(self, now: float) -> list[Running]:
        """Running jobs past their hard time limit at monotonic time ``now``."""
        return [r for r in self.running() if r.hard_deadline is not None and now >= r.hard_deadline]

    def set_deadline(self, slot: int, job_id: str, deadline: float) -> None:
        """Move the hard limit of ``job_id`` if it still runs in ``slot`` (an abort not
        obeyed)."""
        entry = self._read(slot)
        if entry is not None and entry.job_id == job_id:
            self.start(slot, entry.job_id, entry.started, deadline, entry.slice)

    def close(self) -> None:
        """Release the mapping (the supervisor, once it has read a dead worker's board)."""
        self._map.close()


_installed: tuple[RunBoard, float] | None = None


def install(board: RunBoard | None, timeout_grace: float = 10.0) -> None:
    """Make ``board`` this worker process's run board (the child does it after the fork);
    a job with a timeout gets its hard limit ``timeout_grace`` seconds after it."""
    global _installed
    _installed = None if board is None else (board, timeout_grace)


_slots: dict[str, int] = {}


def job_started(
    worker_name: str, job_id: str, started: float, time_limit: float | None, number: int = 0
) -> int:
    """Note on the board that thread ``worker_name`` (``host:pid:N``, or event loop slot
    ``host:pid:aN``) started ``job_id`` (slice ``number`` of it, for a batch job);
    returns its slot, or -1 when no board is installed (a worker outside a supervisor)."""
    if _installed is None:
        return -1
    board, grace = _installed
    slot = _slots.get(worker_name)
    if slot is None:
        slot = _slots[worker_name] = _slot_of(worker_name, board.slots)
    if not 0 <= slot < board.slots:
        return -1
    deadline = 0.0 if time_limit is None else started + time_limit + grace
    board._write(slot, job_id.encode(), started, deadline, number)
    return slot


_NO_BOARD: list[int] = [0]


def record_marks(slot: int) -> tuple[memoryview | list[int], int]:
    """``(marks, i)``: a slice's thread of ``slot`` runs ``marks[i] = index`` before each
    record (a throwaway list when there is no board)."""
    if slot < 0 or _installed is None:
        return _NO_BOARD, 0
    board = _installed[0]
    return board.records(), board.record_position(slot)


def _slot_of(worker_name: str, slots: int) -> int:
    """Thread ``host:pid:N`` has slot N-1; event loop slot ``host:pid:aN`` (a coroutine
    job, rocketjob.aio) has slot ``slots - N``: the board holds ``threads +
    async_concurrency`` slots, threads from the start, loop slots from the end."""
    suffix = worker_name.rsplit(":", 1)[1]
    return slots - int(suffix[1:]) if suffix.startswith("a") else int(suffix) - 1


def current() -> RunBoard | None:
    """This worker process's board, if it runs under a supervisor."""
    return None if _installed is None else _installed[0]


def supervisor_figures() -> dict[str, int]:
    """What a worker reports of its supervisor in its heartbeat (``info``): the
    supervisor's pid and how many workers it had recycled when it forked this one."""
    if _installed is None:
        return {}
    return {"supervisor_pid": os.getppid(), "recycles": _installed[0].recycles}


def grace() -> float:
    """Seconds between a job's soft and hard time limit (``[worker] timeout_grace``)."""
    return 10.0 if _installed is None else _installed[1]


def job_ended(slot: int) -> None:
    """The job of ``slot`` ended (its outcome is written)."""
    if slot >= 0 and _installed is not None:
        _installed[0].clear(slot)
