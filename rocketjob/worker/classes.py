"""Which job classes a worker runs: its ``[worker] imports``, filtered by include/exclude."""

from __future__ import annotations

import fnmatch
import importlib

from rocketjob.errors import JobImportError
from rocketjob.job import REGISTRY


def import_job_modules(modules: tuple[str, ...]) -> None:
    """Import every module of ``[worker] imports``; raise JobImportError naming it."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise JobImportError(f"worker.imports: cannot import {name!r}: {exc!r}") from exc


def select_job_classes(include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    """Dotted paths of the imported job classes this worker runs. Patterns (fnmatch)
    match the dotted path or the bare class name."""

    def matches(path: str, patterns: tuple[str, ...]) -> bool:
        short = path.rsplit(".", 1)[-1]
        return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(short, p) for p in patterns)

    return sorted(
        path
        for path in REGISTRY
        if (not include or matches(path, include)) and not matches(path, exclude)
    )
