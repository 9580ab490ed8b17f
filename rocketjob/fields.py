"""Custom persisted job fields, declared with class annotations.

::

    class ImportJob(Job):
        upload_file_name: str = ""
        rows: int = rocketjob.field(default=0, user_editable=True)
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MISSING: Any = object()


@dataclass(frozen=True)
class FieldSpec:
    """One custom field of a job class."""

    name: str
    default: Any = None
    default_factory: Callable[[], Any] | None = None
    user_editable: bool = False
    copy_on_restart: bool = False

    def initial(self) -> Any:
        """A fresh default value for a new job."""
        if self.default_factory is not None:
            return self.default_factory()
        return copy.deepcopy(self.default)


@dataclass(frozen=True)
class _FieldMarker:
    default: Any
    default_factory: Callable[[], Any] | None
    user_editable: bool
    copy_on_restart: bool


def field(
    default: Any = None,
    *,
    default_factory: Callable[[], Any] | None = None,
    user_editable: bool = False,
    copy_on_restart: bool = False,
) -> Any:
    """Declare a custom field's options: its default (or ``default_factory``), whether
    Mission Control may edit it (``user_editable``) and whether a restarted copy keeps it
    (``copy_on_restart``)."""
    return _FieldMarker(default, default_factory, user_editable, copy_on_restart)


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return "ClassVar" in text


def collect_fields(cls: type, reserved: frozenset[str]) -> dict[str, FieldSpec]:
    """The custom fields declared by ``cls`` itself (annotations that are not ClassVar,
    not private and not one of the built-in ``reserved`` fields). Replaces field()
    markers on the class with the plain default."""
    specs: dict[str, FieldSpec] = {}
    for name, annotation in inspect.get_annotations(cls).items():
        if name.startswith("_") or name in reserved or _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, None)
        if isinstance(value, _FieldMarker):
            spec = FieldSpec(
                name, value.default, value.default_factory, value.user_editable,
                value.copy_on_restart,
            )  # fmt: skip
            setattr(cls, name, value.default)
        else:
            spec = FieldSpec(name, value)
        specs[name] = spec
    return specs
