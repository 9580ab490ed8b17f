"""DirmonJob: starts one job per file arriving in a monitored directory.

A cron job (every minute by default: subclass and set ``cron_schedule`` to change it).
Each run goes through the enabled dirmon entries (see
:mod:`rocketjob.plugins.dirmon_entries`); for every
file matching an entry's pattern that is fully written — its size unchanged since the
previous run, or last modified at least ``settle_seconds`` ago — it moves the file into
the entry's archive directory (as ``<id>_<name>``) and creates one job of the entry's
class with the archived path in ``upload_file_name`` and the entry's properties.

A bad entry (unknown class, a class without ``upload_file_name``, a missing or
unreadable directory, invalid properties) is recorded in the entry's ``last_error`` and
skipped; the other entries still run. Sizes seen are carried to the next run in
``previous_file_names`` (a ``copy_on_restart`` field).
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from typing import Any, ClassVar

from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.fields import field
from rocketjob.ids import new_id
from rocketjob.job import Job, resolve_class
from rocketjob.plugins.dirmon_entries import DirmonEntry, base_directory


class DirmonJob(Job):
    """Monitors the dirmon entries' directories and starts a job per new file."""

    cron_schedule = "* * * * *"
    priority = 30
    destroy_on_complete = True
    #: A file last modified this long ago counts as fully written even on a first look.
    settle_seconds: ClassVar[float] = 60.0
    previous_file_names: dict = field(default_factory=dict, copy_on_restart=True)

    def perform(self, now: float | None = None) -> int:
        """One pass over the enabled entries; returns how many jobs were started."""
        moment = time.time() if now is None else now
        seen: dict[str, int] = {}
        started = 0
        store = current_store()
        for entry in store.list_dirmon_entries():
            if not entry["enabled"]:
                continue
            try:
                started += self.process_entry(entry, seen, moment)
                error = None
            except Exception as exc:  # reported on the entry, never crashes the run
                error = f"{type(exc).__name__}: {exc}"
                self.logger.warning("dirmon entry failed", entry=entry["name"], error=error)
            if error != entry["last_error"]:
                store.update_dirmon_entry(entry["name"], {"last_error": error,
                                                          "updated_at": utcnow()})  # fmt: skip
        self.previous_file_names = seen
        return started

    def process_entry(self, entry: dict[str, Any], seen: dict[str, int], now: float) -> int:
        """Start a job per ready file of ``entry``; not yet ready sizes go to ``seen``."""
        cls = self.target_class(entry)
        directory = base_directory(entry["pattern"])
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"directory {directory} does not exist")
        if not os.access(directory, os.R_OK | os.X_OK):
            raise PermissionError(f"directory {directory} is not readable")
        archive = os.path.realpath(entry["archive_directory"])
        started = 0
        for path in sorted(glob.glob(entry["pattern"], recursive=True)):
            if not os.path.isfile(path) or os.path.realpath(path).startswith(archive + os.sep):
                continue
            stat = os.stat(path)
            if self.previous_file_names.get(path) != stat.st_size and (
                now - stat.st_mtime < self.settle_seconds
            ):
                seen[path] = stat.st_size
                continue
            archived = self.archive_file(path, archive)
            cls.create(upload_file_name=archived, **entry["properties"])
            started += 1
        return started

    @staticmethod
    def target_class(entry: dict[str, Any]) -> type[Job]:
        """The entry's job class, checked before any file is moved."""
        cls = resolve_class(entry["job_class"])
        if cls is None:
            raise LookupError(
                f"unknown job class {entry['job_class']!r} (is its module in [worker] imports?)"
            )
        if "upload_file_name" not in cls._custom_fields:
            raise LookupError(
                f"{entry['job_class']} has no upload_file_name field; declare "
                "`upload_file_name: str = ''`"
            )
        cls(**entry["properties"])  # unknown or invalid properties raise here
        return cls

    @staticmethod
    def archive_file(path: str, archive: str) -> str:
        """Move ``path`` into ``archive`` as ``<unique id>_<name>``; the new path."""
        os.makedirs(archive, exist_ok=True)
        target = os.path.join(archive, f"{new_id()}_{os.path.basename(path)}")
        shutil.move(path, target)
        return target


__all__ = ["DirmonEntry", "DirmonJob"]
