"""Dirmon entries: which files to pick up and which job to start for each.

An entry has a unique ``name``, an absolute glob ``pattern`` (``**`` recurses), the
dotted path of a ``job_class`` (it must declare an ``upload_file_name: str`` field), an
``archive_directory`` (default: ``_archive`` beside the pattern's directory), extra field
values for each job (``properties``), ``enabled``, and ``last_error`` (why the entry
last failed, set by DirmonJob; None when fine).

A pattern or archive directory with a ``..`` component is refused. When allowed roots are
given (``[dirmon] roots`` in the config), a pattern or archive directory resolving outside
them is refused when the entry is created; DirmonJob checks again, file by file, at every
run (see :mod:`rocketjob.plugins.dirmon_confine`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.errors import ValidationError
from rocketjob.plugins.dirmon_confine import base_directory, check_no_parent_steps


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    for root in roots:
        top = os.path.realpath(os.path.expanduser(root))
        if os.path.commonpath([real, top]) == top:
            return True
    return False


def check_entry(entry: Mapping[str, Any], roots: Sequence[str] = ()) -> None:
    """Raise ValidationError for an entry that cannot work (see the module docstring)."""
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("dirmon entry: name must be a non-empty string")
    pattern = entry.get("pattern")
    if not isinstance(pattern, str) or not os.path.isabs(pattern):
        raise ValidationError(f"dirmon entry {name!r}: pattern must be an absolute path glob")
    job_class = entry.get("job_class")
    if not isinstance(job_class, str) or "." not in job_class:
        raise ValidationError(
            f"dirmon entry {name!r}: job_class must be a dotted path like 'app.jobs.ImportJob'"
        )
    if not isinstance(entry.get("properties", {}), dict):
        raise ValidationError(f"dirmon entry {name!r}: properties must be a dict")
    for key in ("pattern", "archive_directory"):
        try:
            check_no_parent_steps(str(entry.get(key) or ""), key)
        except ValidationError as exc:
            raise ValidationError(f"dirmon entry {name!r}: {exc}") from None
    if roots:
        for key in ("pattern", "archive_directory"):
            where = base_directory(entry[key]) if key == "pattern" else entry[key]
            if not _inside(where, roots):
                raise ValidationError(
                    f"dirmon entry {name!r}: {key} {entry[key]!r} is outside the allowed "
                    f"roots ({', '.join(roots)}); see [dirmon] roots"
                )


class DirmonEntry:
    """Create, list, enable, disable and remove dirmon entries (stored in the store)."""

    @staticmethod
    def create(
        name: str,
        pattern: str,
        job_class: str,
        archive_directory: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        enabled: bool = True,
        roots: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Validate and store a new entry; return it. Raises ValidationError."""
        pattern = os.path.expanduser(pattern)
        if archive_directory is None and isinstance(pattern, str):
            archive_directory = os.path.join(base_directory(pattern), "_archive")
        entry: dict[str, Any] = {
            "name": name, "pattern": pattern, "job_class": job_class,
            "archive_directory": os.path.expanduser(archive_directory or ""),
            "properties": dict(properties or {}), "enabled": enabled,
            "last_error": None, "updated_at": utcnow(),
        }  # fmt: skip
        check_entry(entry, roots)
        current_store().insert_dirmon_entry(entry)
        return entry

    @staticmethod
    def all() -> list[dict[str, Any]]:
        """Every entry, by name."""
        return current_store().list_dirmon_entries()

    @staticmethod
    def enable(name: str) -> bool:
        """Enable the entry; False when there is none."""
        return current_store().update_dirmon_entry(name, {"enabled": True, "updated_at": utcnow()})

    @staticmethod
    def disable(name: str) -> bool:
        """Disable the entry; False when there is none."""
        changes = {"enabled": False, "updated_at": utcnow()}
        return current_store().update_dirmon_entry(name, changes)

    @staticmethod
    def remove(name: str) -> bool:
        """Delete the entry; False when there is none."""
        return current_store().delete_dirmon_entry(name)


__all__ = ["DirmonEntry", "base_directory", "check_entry"]
