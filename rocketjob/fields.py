"""Custom persisted job fields, declared with class annotations.

::

    class ImportJob(Job):
        upload_file_name: str = ""
        rows: int = rocketjob.field(default=0, user_editable=True)
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketjob import field_types
from rocketjob.errors import ValidationError

_MISSING: Any = object()


@dataclass(frozen=True)
class FieldSpec:
    """One custom field of a job class."""

    name: str
    default: Any = None
    default_factory: Callable[[], Any] | None = None
    user_editable: bool = False
    copy_on_restart: bool = False
    #: The class annotation as written (a str under ``from __future__ import annotations``).
    annotation: Any = None
    #: The class that declared the field (its module resolves the annotation).
    owner: type | None = None

    def initial(self) -> Any:
        """A fresh default value for a new job."""
        if self.default_factory is not None:
            return self.default_factory()
        return copy.deepcopy(self.default)

    @functools.cached_property
    def type_check(self) -> tuple[field_types.Check, str] | None:
        """The compiled check of the annotation and its name, or None when not checked
        (resolved on first use: the class's module may define names after the class)."""
        if self.owner is None:
            return None
        try:
            annotation = field_types.resolve(self.annotation, self.owner)
        except Exception:  # an annotation that cannot be evaluated here: not checked
            return None
        check = field_types.compile_check(annotation)
        return None if check is None else (check, field_types.describe(annotation))

    def check(self, value: Any, where: str) -> None:
        """Raise ValidationError naming ``where`` unless ``value`` fits the annotation."""
        type_check = self.type_check
        if type_check is not None and not type_check[0](value):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ValidationError(
                f"{where}: expected {type_check[1]}, got {type(value).__name__} {shown}; "
                f"pass a value of type {type_check[1]} or change the field's annotation"
            )


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
                value.copy_on_restart, annotation, cls,
            )  # fmt: skip
            setattr(cls, name, value.default)
        else:
            spec = FieldSpec(name, value, annotation=annotation, owner=cls)
        specs[name] = spec
    return specs


def check_values(cls: Any, values: Mapping[str, Any]) -> None:
    """Raise ValidationError, naming the field, when a value given for a custom field of
    job class ``cls`` does not fit its annotation (see :mod:`rocketjob.field_types`).
    Built-in fields and unknown names are left to the job's own checks."""
    specs: Mapping[str, FieldSpec] = cls._custom_fields
    for name, value in values.items():
        spec = specs.get(name)
        if spec is not None:
            spec.check(value, f"{cls.__qualname__}.{name}")
