"""Job states and the events that move a job between them (DESIGN §2).

:data:`EVENTS` is the one transition table. Every state change reads it: the public
events (``job.retry()``, ``job.abort()`` ...), the worker's outcomes (complete, fail,
expire, reschedule) and the runtime's requeues (a dead worker, a drain). What each event
writes besides the state is built in one place too:
:meth:`rocketjob.lifecycle.Lifecycle.event_changes`, which takes from here the two writes
the stores render into statements of their own: :func:`start_changes` (the claim) and
:func:`requeue_changes` (a bulk requeue).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, NamedTuple


class JobState(StrEnum):
    """The state of a job. A str enum: ``JobState.QUEUED == "queued"``."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    ABORTED = "aborted"


Q, R, C, F, P, A = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.PAUSED,
    JobState.ABORTED,
)


class Transition(NamedTuple):
    """The states an event may start from, and the state it leads to (None: the job
    document is deleted)."""

    sources: frozenset[JobState]
    target: JobState | None


#: event name -> transition. Written by (see docs/architecture.md, "One lifecycle"):
#: ``start`` by the store's claim; ``complete``, ``fail``, ``expire`` and ``reschedule``
#: by the worker through its group commit; ``requeue`` by the runtime for a dead or
#: drained worker's jobs; the others by the public methods of the same name.
EVENTS: dict[str, Transition] = {
    "start": Transition(frozenset({Q}), R),
    "complete": Transition(frozenset({R}), C),
    "fail": Transition(frozenset({Q, R, P}), F),
    "retry": Transition(frozenset({F}), Q),
    "pause": Transition(frozenset({Q, R}), P),
    "resume": Transition(frozenset({P}), Q),
    "abort": Transition(frozenset({Q, R, F, P}), A),
    "requeue": Transition(frozenset({R}), Q),
    # claimed outside its processing window: queued again for the next opening
    "reschedule": Transition(frozenset({R}), Q),
    # claimed after its expires_at: deleted, never run
    "expire": Transition(frozenset({R}), None),
}

FINAL_STATES = frozenset({C, A})


def sources(event: str) -> frozenset[JobState]:
    """The states ``event`` may be fired from."""
    return EVENTS[event].sources


def target(event: str) -> JobState | None:
    """The state ``event`` leads to; None when it deletes the job."""
    return EVENTS[event].target


# -- the writes the stores render into their own statements ------------------------------
def start_changes(
    now: dt.datetime | None, server_name: str | None, worker_name: str | None
) -> dict[str, Any]:
    """What ``start`` writes (the claim: queued -> running): the state, when it started,
    and the server and worker running the job. The stores' claims write exactly these
    fields (``tests/store/test_contract.py`` checks it); their SQL takes the state from
    here."""
    return {
        "state": str(EVENTS["start"].target),
        "started_at": now,
        "server_name": server_name,
        "worker_name": worker_name,
    }


def requeue_changes() -> dict[str, Any]:
    """What ``requeue`` writes (running -> queued), besides a crash count: the state, and
    no worker, server or start time. :meth:`Lifecycle.event_changes` writes it for one
    job; the stores' bulk requeue of a server's jobs (``Store.requeue_jobs``) renders its
    statement from it."""
    return {
        "state": str(EVENTS["requeue"].target),
        "worker_name": None,
        "server_name": None,
        "started_at": None,
    }
