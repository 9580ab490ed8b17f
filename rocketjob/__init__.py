"""rocketjob: high-performance, reliable background jobs for Python.

Jobs are documents in a store (SQLite by default, PostgreSQL or MongoDB); a supervisor
daemon forks worker processes that claim and perform them.
"""

import rocketjob.plugins  # noqa: F401 (registers the behaviours into rocketjob.job.HOOKS)
from rocketjob.batch import BatchFailed, BatchJob
from rocketjob.connection import connect, current_store, disconnect
from rocketjob.errors import (
    ConfigError,
    CorruptJob,
    DuplicateJob,
    InvalidTransition,
    JobNotFound,
    JobTimeout,
    RocketJobError,
    StoreError,
    StoreUnavailable,
    ValidationError,
    WorkerCrashed,
)
from rocketjob.fields import field
from rocketjob.job import Job, JobException
from rocketjob.server import Server
from rocketjob.state import JobState

__version__ = "0.1.0"

__all__ = [
    "BatchFailed",
    "BatchJob",
    "ConfigError",
    "CorruptJob",
    "DuplicateJob",
    "InvalidTransition",
    "Job",
    "JobException",
    "JobNotFound",
    "JobState",
    "JobTimeout",
    "RocketJobError",
    "Server",
    "StoreError",
    "StoreUnavailable",
    "ValidationError",
    "WorkerCrashed",
    "__version__",
    "connect",
    "current_store",
    "disconnect",
    "field",
]
