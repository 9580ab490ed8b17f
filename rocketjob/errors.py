"""The exceptions rocketjob raises. Each message says what is wrong and how to fix it."""

from __future__ import annotations


class RocketJobError(Exception):
    """Base class of every rocketjob error."""


class ValidationError(RocketJobError, ValueError):
    """Invalid input at enqueue time (priority, arguments, fields); nothing was stored."""


class JobNotFound(RocketJobError, LookupError):
    """No job with the given id exists in the store."""


class InvalidTransition(RocketJobError):
    """A state-machine event that is not allowed from the job's current state."""

    def __init__(self, event: str, state: str, job_id: str | None = None) -> None:
        self.event = event
        self.state = state
        self.job_id = job_id
        where = f"job {job_id}" if job_id else "job"
        super().__init__(f"cannot {event} {where}: it is {state}")


class ConfigError(RocketJobError, ValueError):
    """A configuration file or value is invalid; the message names the key."""


class StoreError(RocketJobError):
    """The store cannot be reached or refused an operation."""


class StoreUnavailable(StoreError):
    """The store is unreachable (bad URL, refused connection, wrong credentials)."""


class JobImportError(RocketJobError):
    """A module listed in ``[worker] imports`` failed to import."""


class DuplicateJob(ValidationError):
    """A second instance of a singleton (or cron) job class while one is queued, running
    or paused; nothing was stored."""


class CorruptJob(StoreError):
    """A stored job whose document cannot be decoded (a bad manual edit, disk corruption).

    The worker that claims it fails it with this error instead of running it (or
    crashing); ``field`` names the first field that cannot be decoded."""

    __module__ = "rocketjob"  # stored and shown as rocketjob.CorruptJob

    def __init__(self, job_id: str | None, field: str, reason: str) -> None:
        self.job_id, self.field, self.reason = job_id, field, reason
        super().__init__(
            f"job {job_id}: its stored {field!r} cannot be decoded ({reason}); "
            "fix the row or destroy the job"
        )


class WorkerCrashed(RocketJobError):
    """The job was running in a worker process that died abnormally (a signal, os._exit,
    the OOM killer, a segfault) ``[worker] max_crashes`` times: it is failed with this
    error instead of being re-queued again. The message names the signal or exit status
    and the server."""

    __module__ = "rocketjob"  # stored and shown as rocketjob.WorkerCrashed


class JobTimeout(RocketJobError):
    """The job ran past its ``timeout``: raised inside ``perform`` (in its thread) at the
    limit, and stored as the job's failure. If ``perform`` is still running
    ``[worker] timeout_grace`` seconds later (a blocking C call ignores it), its worker
    process is killed and replaced, and the job is failed with this error all the same."""

    __module__ = "rocketjob"  # stored and shown as rocketjob.JobTimeout
