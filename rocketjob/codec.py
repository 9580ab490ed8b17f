"""The data codec: job arguments and results are stored as data, never as pickles.

Supported: JSON types (None, bool, int within 64 bits, finite float, str, list, dict with
str keys) plus tuple, datetime (timezone-aware), date, Decimal, UUID and bytes. Each value
round-trips exactly. The extra types are encoded as one-key dicts whose key starts with
``~`` (``{"~dt": "2026-01-02T03:04:05.000006+00:00"}``); a user dict that happens to look
like one is wrapped in ``{"~map": {...}}`` so it, too, comes back unchanged.

The encoded form is plain JSON, so every store keeps it as a document (SQLite JSON text,
PostgreSQL JSONB, MongoDB sub-documents) and Mission Control can show it.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson

from rocketjob.errors import ValidationError

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_SCALARS = frozenset({str, int, float, bool, type(None)})  # decode as themselves
_TAGS = frozenset({"~dt", "~date", "~dec", "~uuid", "~b", "~t", "~map"})
_CONTAINERS = frozenset({list, dict})
#: Deepest nesting of lists, dicts and tuples a value may have. Past it ``encode`` raises a
#: ValidationError naming the path, instead of a bare RecursionError (Python's own limit is
#: about 1,000 frames; orjson refuses past 255).
MAX_DEPTH = 100


def encode(value: Any, path: str = "value", depth: int = 1) -> Any:
    """Return the JSON-safe form of ``value``; raise ValidationError naming ``path``. A
    value that is plain JSON already is returned itself, not a copy. ``depth`` is the
    nesting level of ``value`` (a container deeper than :data:`MAX_DEPTH` is refused)."""
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return value
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValidationError(
                f"{path}: integer {value} does not fit in 64 bits; pass it as a str or Decimal"
            )
        return value
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"{path}: {value} cannot be stored; use None or a Decimal")
        return value
    if kind is list or kind is dict:
        if depth > MAX_DEPTH:
            raise _too_deep(path)
        if _plain_tree(value, depth):  # the common case: plain JSON, stored as it is
            return value
        if kind is list:
            return _encode_list(value, path, depth)
        return _encode_dict(value, path, depth)
    return _encode_extra(value, path, depth)


def _too_deep(path: str) -> ValidationError:
    where = path if len(path) <= 60 else path[:60] + "..."
    return ValidationError(
        f"{where}: nested more than {MAX_DEPTH} levels deep (the nesting depth limit); "
        "flatten the value or store it elsewhere and pass its name"
    )


def _plain_tree(value: list[Any] | dict[Any, Any], depth: int) -> bool:
    """True for a list or dict of plain JSON only (str keys, no tag-like dict), no deeper
    than MAX_DEPTH: it encodes as itself. Checking first is cheaper than encoding, which
    copies and names paths (and is where a too-deep value gets its error)."""
    inner = depth + 1
    if isinstance(value, list):
        for item in value:
            if not (_plain(item) or (type(item) in _CONTAINERS and _plain_child(item, inner))):
                return False
        return True
    for key, item in value.items():
        if type(key) is not str:
            return False
        if not (_plain(item) or (type(item) in _CONTAINERS and _plain_child(item, inner))):
            return False
    return not (len(value) == 1 and next(iter(value)) in _TAGS)


def _plain_child(item: list[Any] | dict[Any, Any], depth: int) -> bool:
    return depth <= MAX_DEPTH and _plain_tree(item, depth)


def _plain(item: Any) -> bool:
    """True for a value that encodes as itself (str, bool, None, int64, finite float)."""
    kind = type(item)
    if kind is str or kind is bool or item is None:
        return True
    if kind is int:
        in_range: bool = _INT64_MIN <= item <= _INT64_MAX
        return in_range
    finite: bool = kind is float and item - item == 0.0  # False for inf and nan
    return finite


def _encode_list(value: list[Any], path: str, depth: int) -> list[Any]:
    # The element path is formatted only for a value that needs encoding (or an error).
    inner = depth + 1
    return [
        item if _plain(item) else encode(item, f"{path}[{i}]", inner)
        for i, item in enumerate(value)
    ]


def _encode_dict(value: dict[Any, Any], path: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise ValidationError(
                f"{path}: dict key {key!r} is a {type(key).__name__}; only str keys can be stored"
            )
        out[key] = item if _plain(item) else encode(item, f"{path}[{key!r}]", depth + 1)
    if len(out) == 1 and next(iter(out)) in _TAGS:
        return {"~map": out}
    return out


def _encode_extra(value: Any, path: str, depth: int) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"{path}: datetime {value.isoformat()} is naive; pass a timezone-aware datetime"
            )
        return {"~dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"~date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"~dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"~uuid": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"~b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        if depth > MAX_DEPTH:
            raise _too_deep(path)
        return {"~t": [encode(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]}
    if isinstance(value, str):  # subclasses such as StrEnum: stored as the plain value
        return "" + value
    if isinstance(value, int | float):  # IntEnum and friends
        return encode(int(value) if isinstance(value, int) else float(value), path, depth)
    raise ValidationError(
        f"{path}: a value of type {type(value).__name__!r} cannot be stored as job data; "
        "pass JSON types, "
        "datetime, date, Decimal, UUID or bytes (convert objects to dicts or ids)"
    )


class Undecodable:
    """A stored value a store could not read back (invalid JSON text, a time that is not
    one): stores put it in the document instead of raising, so one bad row never breaks a
    claim or a listing. :func:`decode` raises ValueError on it; see rocketjob.corrupt."""

    __slots__ = ("raw", "reason")

    def __init__(self, raw: Any, reason: str) -> None:
        self.raw, self.reason = raw, reason

    def __repr__(self) -> str:
        return f"<undecodable: {self.reason}>"


class CorruptDoc(dict[str, Any]):
    """A job document a store could not read in full: one or more of its values is an
    :class:`Undecodable`. Its type is the mark, so the job model notices it with one
    check and a healthy document costs nothing more."""


def decode(value: Any) -> Any:
    """Return the Python value of an encoded (JSON-safe) value."""
    kind = type(value)
    if kind is list:
        return [item if type(item) in _SCALARS else decode(item) for item in value]
    if kind is not dict:
        if kind is Undecodable:
            raise ValueError(value.reason)
        return value
    if len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag in _TAGS:
            return _decode_tag(tag, inner)
    return {key: item if type(item) in _SCALARS else decode(item) for key, item in value.items()}


def _decode_tag(tag: str, inner: Any) -> Any:
    if tag == "~dt":
        return dt.datetime.fromisoformat(inner)
    if tag == "~date":
        return dt.date.fromisoformat(inner)
    if tag == "~dec":
        return Decimal(inner)
    if tag == "~uuid":
        return uuid.UUID(inner)
    if tag == "~b":
        return base64.b64decode(inner)
    if tag == "~t":
        return tuple(decode(item) for item in inner)
    return {key: decode(item) for key, item in inner.items()}  # ~map


def dumps(value: Any) -> str:
    """Serialize an already encoded value to JSON text."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes | None) -> Any:
    """Parse JSON text written by :func:`dumps`."""
    return None if text is None else orjson.loads(text)
