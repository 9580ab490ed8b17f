"""Jobs whose stored document cannot be decoded (issue 16 item 5).

A bad manual edit or disk corruption can leave a row whose arguments are not JSON, whose
times are not times, or whose encoded values carry a tag that does not decode. Such a row
must never crash the worker that claims it nor break a listing:

* the stores decode rows with :func:`tolerant`: a value they cannot read becomes a
  :class:`rocketjob.codec.Undecodable` in the document instead of an exception;
* :func:`find_corruption` names the first field of a document that does not decode;
* :class:`rocketjob.Job` loads such a document with placeholders (empty arguments, no
  result) and ``job.corruption`` set, so ``jobs list``, ``jobs show`` and Mission
  Control show it; the worker fails it with :class:`rocketjob.CorruptJob` instead of
  running it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from rocketjob import codec
from rocketjob.state import JobState


class LoadedJob(Protocol):
    """The fields of a job that :func:`load_corrupt` sets (:class:`rocketjob.Job` has
    them). A protocol, not the Job class: the stores import this module, and the job
    model imports the stores (``tests/test_import_graph.py``)."""

    state: JobState
    arguments: dict[str, Any]
    result: Any
    _exception: dict[str, Any] | None


#: Fields holding times (a datetime or None).
TIME_FIELDS = ("run_at", "expires_at", "created_at", "started_at", "completed_at")


def tolerant(decode: Callable[[Any], Any], raw: Any) -> Any:
    """``decode(raw)``, or an Undecodable holding ``raw`` and the reason it failed."""
    try:
        return decode(raw)
    except Exception as exc:  # any decoding error of a stored value: kept, not raised
        return codec.Undecodable(raw, f"{type(exc).__name__}: {exc}")


def tolerant_doc(
    doc: dict[str, Any], decoders: dict[str, Callable[[Any], Any]]
) -> codec.CorruptDoc:
    """A store's slow path, after decoding a row raised: ``doc`` (the raw values) with each
    field in ``decoders`` decoded by :func:`tolerant`, as a CorruptDoc."""
    out = codec.CorruptDoc(doc)
    for name, decode in decoders.items():
        if out.get(name) is not None:
            out[name] = tolerant(decode, out[name])
    return out


def find_corruption(doc: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, reason)`` for the first field of ``doc`` that does not decode, or None."""
    for name, value in doc.items():
        if isinstance(value, codec.Undecodable):
            return name, value.reason
    checks: list[tuple[str, Callable[[], str | None]]] = [
        ("state", lambda: _state(doc.get("state"))),
        ("arguments", lambda: _arguments(doc.get("arguments"))),
        ("result", lambda: _decodes(doc.get("result"))),
        ("fields", lambda: _fields(doc.get("fields"))),
        *[(name, _time_check(doc.get(name))) for name in TIME_FIELDS],
    ]
    for name, check in checks:
        reason = check()
        if reason is not None:
            return name, reason
    return None


def _state(value: Any) -> str | None:
    try:
        JobState(value)
    except ValueError:
        return f"{value!r} is not a job state"
    return None


def _arguments(value: Any) -> str | None:
    reason = _decodes(value)
    if reason is not None:
        return reason
    decoded = codec.decode(value)
    if not isinstance(decoded, dict) or not isinstance(decoded.get("args", []), list):
        return "expected {'args': [...], 'kwargs': {...}}"
    if not isinstance(decoded.get("kwargs", {}), dict):
        return "expected {'args': [...], 'kwargs': {...}}"
    return None


def _fields(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"expected a dict, got {type(value).__name__}"
    for name, item in value.items():
        reason = _decodes(item)
        if reason is not None:
            return f"{name}: {reason}"
    return None


def _decodes(value: Any) -> str | None:
    try:
        codec.decode(value)
    except Exception as exc:  # what the value's decoding raises is the reason
        return f"{type(exc).__name__}: {exc}"
    return None


def _time_check(value: Any) -> Callable[[], str | None]:
    def check() -> str | None:
        if value is None or isinstance(value, dt.datetime):
            return None
        return f"expected a time, got {type(value).__name__} {value!r:.60}"

    return check


def load_corrupt(job: LoadedJob, doc: dict[str, Any]) -> None:
    """Load a document that does not decode into ``job``: readable values as they are,
    placeholders for the rest, and ``job.corruption`` naming the first bad field."""
    field, reason = find_corruption(doc) or ("document", "it cannot be read")
    values = job.__dict__
    for name in TIME_FIELDS:
        if not isinstance(values.get(name), dt.datetime):
            values[name] = None
    state = str(doc.get("state"))
    job.state = JobState(state) if state in JobState._value2member_map_ else JobState.FAILED
    job.arguments = {"args": [], "kwargs": {}}
    job.result = None
    exception = doc.get("exception")
    job._exception = exception if isinstance(exception, dict) else None
    values["_corruption"] = (field, reason)
