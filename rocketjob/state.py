"""Job states and the events that move a job between them (DESIGN §2)."""

from __future__ import annotations

from enum import StrEnum


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

#: event name -> (states it may start from, state it leads to)
EVENTS: dict[str, tuple[frozenset[JobState], JobState]] = {
    "start": (frozenset({Q}), R),
    "complete": (frozenset({R}), C),
    "fail": (frozenset({Q, R, P}), F),
    "retry": (frozenset({F}), Q),
    "pause": (frozenset({Q, R}), P),
    "resume": (frozenset({P}), Q),
    "abort": (frozenset({Q, R, F, P}), A),
    "requeue": (frozenset({R}), Q),
}

FINAL_STATES = frozenset({C, A})


def sources(event: str) -> frozenset[JobState]:
    """The states ``event`` may be fired from."""
    return EVENTS[event][0]


def target(event: str) -> JobState:
    """The state ``event`` leads to."""
    return EVENTS[event][1]
