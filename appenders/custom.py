"""``type = "custom"``: any class with an ``emit(record)`` method.

``class = "package.module:ClassName"``; the entry's other keys (except ``type``, ``name``,
``level`` and the delivery keys) are passed to its constructor as keyword arguments.
``emit_batch``, ``flush``, ``close`` and ``reopen`` are used when the class defines them.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from appenders.base import Appender
from appenders.config import EntryReader


@dataclass(frozen=True)
class CustomOptions:
    """A ``custom`` entry: the class and its keyword arguments."""

    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)


def load_class(path: str) -> type:
    """The class at ``module:Class``; ValueError saying what is wrong otherwise."""
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"expected 'module:Class', got {path!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"{module_name!r} has no {qualname!r}")
    if not isinstance(obj, type) or not callable(getattr(obj, "emit", None)):
        raise ValueError(f"{path!r} is not a class with an emit(record) method")
    return obj


def parse(reader: EntryReader) -> CustomOptions:
    """Read a ``custom`` entry."""
    path = reader.text("class")
    try:
        cls = load_class(path)
    except ValueError as exc:
        reader.fail("class", str(exc))
    kwargs = reader.rest()
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        reader.fail("class", f"{path} does not take these keys: {exc}")
    except ValueError:
        pass  # no signature to check (a builtin): the constructor will say
    return CustomOptions(cls=cls, kwargs=kwargs)


def create(options: CustomOptions) -> Appender:
    """An instance of the class, built with the entry's other keys."""
    instance: Appender = options.cls(**options.kwargs)
    return instance
