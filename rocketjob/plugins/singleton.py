"""Singleton: ``singleton = True`` allows one instance of the class queued, running or
paused at a time; enqueueing a second raises :class:`rocketjob.DuplicateJob` (a
ValidationError) and stores nothing.

Atomic across processes and machines: each such job carries a store-managed
``singleton_key`` (its class path) and the store keeps it unique among active jobs (a
partial unique index on SQLite and PostgreSQL; on MongoDB a unique index on a field the
store sets only while the job is active). Cron classes use the same key, so there is
exactly one scheduled instance of each.
"""

from __future__ import annotations

from typing import Any

from rocketjob.errors import ValidationError

#: States in which a singleton (or cron) instance holds its key.
ACTIVE_STATES = ("queued", "running", "paused")


def validate(cls: Any, name: str) -> None:
    """``singleton`` must be a bool."""
    if not isinstance(cls.singleton, bool):
        raise ValidationError(f"{name}.singleton: must be True or False, got {cls.singleton!r}")


def singleton_key(cls: Any) -> str | None:
    """The uniqueness key of new jobs of ``cls``: its class path for singleton and cron
    classes, otherwise None (no uniqueness)."""
    if cls.singleton or cls.cron_schedule:
        return str(cls._job_class_path)
    return None
