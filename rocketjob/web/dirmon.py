"""Dirmon entries for Mission Control: the form, its validation, create and edit.

Creating goes through :meth:`rocketjob.plugins.dirmon_entries.DirmonEntry.create`, and an
edit is checked by the same :func:`~rocketjob.plugins.dirmon_entries.check_entry`, so the
web refuses exactly what the API and the CLI refuse (a relative pattern, a pattern or
archive directory outside ``[dirmon] roots``, a duplicate name). On top of that, a job
class Mission Control can import but that has no ``upload_file_name`` field is refused
(it could never start a job), and one it cannot import is accepted with a warning: the
workers may import code the web process does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.errors import ValidationError
from rocketjob.job import resolve_class
from rocketjob.plugins.dirmon_entries import DirmonEntry, base_directory, check_entry

#: Longest accepted name (it is shown in every row and the audit log).
NAME_MAX = 200


@dataclass(frozen=True)
class EntryForm:
    """The values of the create or edit form, as typed."""

    name: str = ""
    pattern: str = ""
    job_class: str = ""
    archive_directory: str = ""
    properties: str = "{}"
    enabled: bool = True

    @classmethod
    def from_form(cls, data: Mapping[str, Any], name: str | None = None) -> EntryForm:
        """From a POSTed form; ``name`` (the entry edited) overrides the form's."""
        text = {k: str(data.get(k, "")).strip() for k in
                ("name", "pattern", "job_class", "archive_directory", "properties")}  # fmt: skip
        return cls(
            name=name if name is not None else text["name"], pattern=text["pattern"],
            job_class=text["job_class"], archive_directory=text["archive_directory"],
            properties=text["properties"] or "{}", enabled=data.get("enabled") == "on",
        )  # fmt: skip

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> EntryForm:
        """The form showing a stored entry."""
        return cls(
            name=entry["name"], pattern=entry["pattern"], job_class=entry["job_class"],
            archive_directory=entry["archive_directory"] or "",
            properties=json.dumps(entry.get("properties") or {}, indent=1, sort_keys=True),
            enabled=bool(entry["enabled"]),
        )  # fmt: skip

    def parsed_properties(self) -> dict[str, Any]:
        """The properties field as a JSON object; ValidationError otherwise."""
        try:
            value = json.loads(self.properties)
        except ValueError as exc:
            raise ValidationError(f"properties: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ValidationError('properties: must be a JSON object such as {"customer": 7}')
        return value


def class_warning(job_class: str) -> str | None:
    """Why ``job_class`` cannot start dirmon jobs (ValidationError), a warning when this
    process cannot import it, or None when it is fine."""
    cls = resolve_class(job_class) if "." in job_class else None
    if cls is None:
        return (
            f"job class {job_class!r} is not importable by Mission Control: make sure the "
            "workers import it ([worker] imports), or the entry will report an error"
        )
    if "upload_file_name" not in cls._custom_fields:
        raise ValidationError(
            f"job class {job_class!r} has no upload_file_name field; declare "
            "`upload_file_name: str = ''` on it"
        )
    return None


def find_entry(name: str) -> dict[str, Any] | None:
    """The stored entry called ``name``, or None."""
    return next((e for e in DirmonEntry.all() if e["name"] == name), None)


def create_entry(form: EntryForm, roots: Sequence[str]) -> tuple[dict[str, Any], str | None]:
    """Validate and store a new entry; returns it and a warning (or None).
    Raises ValidationError with a message for the form."""
    if len(form.name) > NAME_MAX:
        raise ValidationError(f"dirmon entry: name is longer than {NAME_MAX} characters")
    properties = form.parsed_properties()
    check_entry(_entry_values(form, properties), roots)  # the API's messages come first
    warning = class_warning(form.job_class)
    entry = DirmonEntry.create(
        form.name, form.pattern, form.job_class, form.archive_directory or None, properties,
        enabled=form.enabled, roots=roots,
    )  # fmt: skip
    return entry, warning


def update_entry(
    name: str, form: EntryForm, roots: Sequence[str]
) -> tuple[dict[str, Any], str | None] | None:
    """Apply the form to the entry ``name`` (None when it is gone); its ``last_error``
    is cleared (DirmonJob sets it again on its next run if the entry still fails).
    Raises ValidationError."""
    current = find_entry(name)
    if current is None:
        return None
    entry = {**current, **_entry_values(form, form.parsed_properties())}
    check_entry(entry, roots)
    warning = class_warning(form.job_class)
    changes = {k: entry[k] for k in
               ("pattern", "job_class", "archive_directory", "properties", "enabled")}  # fmt: skip
    changes.update(last_error=None, updated_at=utcnow())
    if not current_store().update_dirmon_entry(name, changes):
        return None
    return {**entry, **changes}, warning


def _entry_values(form: EntryForm, properties: dict[str, Any]) -> dict[str, Any]:
    """The entry the form describes, built as DirmonEntry.create builds it."""
    pattern = os.path.expanduser(form.pattern)
    archive = os.path.expanduser(form.archive_directory) if form.archive_directory else ""
    return {
        "name": form.name, "pattern": pattern, "job_class": form.job_class,
        "archive_directory": archive or os.path.join(base_directory(pattern), "_archive"),
        "properties": properties, "enabled": form.enabled,
    }  # fmt: skip


#: Actions on one entry: label for messages, and the DirmonEntry method.
ENTRY_ACTIONS = {"enable": "enabled", "disable": "disabled", "remove": "removed"}


def act_on_entry(name: str, action: str) -> bool:
    """Enable, disable or remove the entry; False when there is none."""
    result: bool = getattr(DirmonEntry, action)(name)
    return result
