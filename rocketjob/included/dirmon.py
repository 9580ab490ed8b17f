"""DirmonJob: starts one job per file arriving in a monitored directory.

A cron job (every minute by default: subclass and set ``cron_schedule`` to change it).
Each run goes through the enabled dirmon entries (see
:mod:`rocketjob.plugins.dirmon_entries`); for every
file matching an entry's pattern that is fully written — its size unchanged since the
previous run, or last modified at least ``settle_seconds`` ago — it moves the file into
the entry's archive directory (as ``<id>_<name>``) and creates one job of the entry's
class with the archived path in ``upload_file_name`` and the entry's properties.

Every file is resolved and must lie inside ``[dirmon] roots`` (or, with none configured,
the entry's own directories); symlinks leaving them are skipped with a warning, and moves
never follow a symlink (:mod:`rocketjob.plugins.dirmon_confine`). Refused files are
counted in the entry's ``last_error`` (``refused 2 file(s), not moved: ...``).

A bad entry (unknown class, a class without ``upload_file_name``, a missing or
unreadable directory, invalid properties) is recorded in the entry's ``last_error`` and
skipped; the other entries still run. Sizes seen are carried to the next run in
``previous_file_names`` (a ``copy_on_restart`` field).
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, ClassVar

from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.fields import field
from rocketjob.job import Job, resolve_class
from rocketjob.plugins.dirmon_confine import (
    Archive,
    Refused,
    base_directory,
    check_no_parent_steps,
    configured_roots,
    confined_file,
    entry_roots,
)
from rocketjob.plugins.dirmon_entries import DirmonEntry


class DirmonJob(Job):
    """Monitors the dirmon entries' directories and starts a job per new file."""

    cron_schedule = "* * * * *"
    priority = 30
    destroy_on_complete = True
    #: A file last modified this long ago counts as fully written even on a first look.
    settle_seconds: ClassVar[float] = 60.0
    previous_file_names: dict[str, int] = field(default_factory=dict, copy_on_restart=True)

    def perform(self, now: float | None = None) -> int:
        """One pass over the enabled entries; returns how many jobs were started."""
        moment = time.time() if now is None else now
        seen: dict[str, int] = {}
        started = 0
        store = current_store()
        for entry in store.list_dirmon_entries():
            if not entry["enabled"]:
                continue
            refused: list[str] = []
            try:
                started += self.process_entry(entry, seen, moment, refused)
                error = refused_summary(refused)
            except Exception as exc:  # reported on the entry, never crashes the run
                error = f"{type(exc).__name__}: {exc}"
                self.logger.warning("dirmon entry failed", entry=entry["name"], error=error)
            if error != entry["last_error"]:
                store.update_dirmon_entry(entry["name"], {"last_error": error,
                                                          "updated_at": utcnow()})  # fmt: skip
        self.previous_file_names = seen
        return started

    def process_entry(
        self, entry: dict[str, Any], seen: dict[str, int], now: float,
        refused: list[str] | None = None,
    ) -> int:  # fmt: skip
        """Start a job per ready file of ``entry``; not yet ready sizes go to ``seen``,
        files refused by the confinement (see :mod:`rocketjob.plugins.dirmon_confine`)
        to ``refused``."""
        refused = [] if refused is None else refused
        cls = self.target_class(entry)
        pattern = entry["pattern"]
        check_no_parent_steps(pattern, "pattern")
        roots = entry_roots(pattern, entry["archive_directory"], configured_roots())
        directory = base_directory(pattern)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"directory {directory} does not exist")
        if not os.access(directory, os.R_OK | os.X_OK):
            raise PermissionError(f"directory {directory} is not readable")
        archive = Archive.open(entry["archive_directory"], roots)
        try:
            return self._pick_up(entry, cls, archive, roots, seen, now, refused)
        finally:
            archive.close()

    def _pick_up(
        self, entry: dict[str, Any], cls: type[Job], archive: Archive, roots: tuple[str, ...],
        seen: dict[str, int], now: float, refused: list[str],
    ) -> int:  # fmt: skip
        """Move each settled, confined file of the entry into ``archive`` and start its job."""
        started = 0
        for path in sorted(glob.glob(entry["pattern"], recursive=True)):
            try:
                found = confined_file(path, roots)
                if found is None or archive.holds(found[1]):
                    continue
                root, real = found
                size, mtime = self._size_and_mtime(real)
                if self.previous_file_names.get(path) != size and (
                    now - mtime < self.settle_seconds
                ):
                    seen[path] = size
                    continue
                archived = archive.move_in(root, real)
            except Refused as exc:
                refused.append(str(exc))
                self.logger.warning("dirmon file refused", entry=entry["name"], reason=str(exc))
                continue
            cls.create(upload_file_name=archived, **entry["properties"])
            started += 1
        return started

    @staticmethod
    def _size_and_mtime(real: str) -> tuple[int, float]:
        info = os.stat(real, follow_symlinks=False)
        return info.st_size, info.st_mtime

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


def refused_summary(refused: list[str]) -> str | None:
    """The entry status for the files refused in one run (None when there were none)."""
    if not refused:
        return None
    shown = "; ".join(refused[:3]) + ("; ..." if len(refused) > 3 else "")
    return f"refused {len(refused)} file(s), not moved: {shown}"


__all__ = ["DirmonEntry", "DirmonJob"]
