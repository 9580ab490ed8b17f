"""Type checks for custom job fields, compiled once from their class annotations.

Checked annotations: ``int``, ``float``, ``str``, ``bool``, ``datetime``, ``date``,
``Decimal``, ``UUID``, ``bytes``, ``None``, ``list[X]``, ``dict[str, X]`` (and bare
``list``/``dict``), ``Optional[X]`` and ``X | Y``, ``Literal[...]``, nested freely.
``Any``, ``object`` and every other annotation are not checked (the codec still refuses
values it cannot store).

The rules are those of the stored data, not of Python's class tree: a ``bool`` is not an
``int`` (``True`` for ``rows: int`` is a mistake, not 1), an ``int`` is accepted for a
``float``, and a ``datetime`` is not a ``date``.
"""

from __future__ import annotations

import datetime as dt
import sys
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

#: A compiled check: True when the value fits the annotation.
Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _instance_of(kind: type | tuple[type, ...]) -> Check:
    return lambda value: isinstance(value, kind)


#: The scalar types of stored data and their checks.
_SCALARS: dict[Any, Check] = {
    int: _is_int,
    float: _is_float,
    str: _instance_of(str),
    bool: _instance_of(bool),
    dt.datetime: _instance_of(dt.datetime),
    dt.date: _is_date,
    Decimal: _instance_of(Decimal),
    uuid.UUID: _instance_of(uuid.UUID),
    bytes: _instance_of((bytes, bytearray)),
    type(None): lambda value: value is None,
    None: lambda value: value is None,
}
_UNCHECKED: frozenset[Any] = frozenset({Any, object})


def compile_check(annotation: Any) -> Check | None:
    """The check for a resolved ``annotation``, or None when it is not checked."""
    try:
        if annotation in _UNCHECKED:
            return None
        if annotation in _SCALARS:
            return _SCALARS[annotation]
    except TypeError:  # an unhashable annotation: not one of those
        pass
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return compile_check(params[0])
    if annotation is list or origin is list:
        return _list_check(params[0] if params else Any)
    if annotation is dict or origin is dict:
        return _dict_check(params[1] if len(params) == 2 else Any)
    if origin is typing.Union or origin is types.UnionType:
        return _union_check(params)
    if origin is typing.Literal:
        return lambda value: any(type(value) is type(p) and value == p for p in params)
    return None


def _list_check(item_type: Any) -> Check:
    item = compile_check(item_type)
    if item is None:
        return _instance_of(list)
    return lambda value: isinstance(value, list) and all(item(v) for v in value)


def _dict_check(value_type: Any) -> Check:
    item = compile_check(value_type)

    def check(value: Any) -> bool:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return False
        return item is None or all(item(v) for v in value.values())

    return check


def _union_check(members: tuple[Any, ...]) -> Check | None:
    checks = [compile_check(member) for member in members]
    if any(check is None for check in checks):
        return None  # one unchecked member accepts anything
    known = [check for check in checks if check is not None]
    return lambda value: any(check(value) for check in known)


def resolve(annotation: Any, owner: type) -> Any:
    """The annotation object of a field declared on ``owner`` (string annotations, as
    under ``from __future__ import annotations``, are evaluated in its module). Raises
    NameError or another error when it cannot be evaluated."""
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(owner.__module__)
    scope = dict(vars(module)) if module is not None else {}
    return eval(annotation, scope, dict(vars(owner)))  # the class's own source


def describe(annotation: Any) -> str:
    """A short name for ``annotation`` in error messages: ``int``, ``list[int] | None``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return "None" if annotation is type(None) else annotation.__qualname__
    text = repr(annotation)
    for prefix in ("typing.", "datetime.", "decimal.", "uuid."):
        text = text.replace(prefix, "")
    return text.replace("NoneType", "None")
