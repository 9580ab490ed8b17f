"""MongoDB store: converting job and server documents to and from BSON.

* ``id`` / ``name`` become ``_id``.
* BSON dates keep milliseconds only, so each time is stored as a BSON date (queryable,
  readable in any MongoDB tool) plus the remaining microseconds in ``_us.<field>``;
  documents read back exact to the microsecond.
* Encoded JSON values are stored as native sub-documents. A value whose dict keys MongoDB
  cannot hold as field names (empty, containing ``.``, starting with ``$``, or holding a
  NUL) is stored as JSON text instead, flagged by ``_text.<field> = true``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from rocketjob import codec
from rocketjob.store.base import SERVER_FIELDS, JobDoc, ServerDoc
from rocketjob.store.job_fields import JOB_FIELDS, Kind, fields_of

#: Stored as a BSON date (milliseconds) plus the microseconds in ``_us``.
TIME_FIELDS = fields_of(Kind.TIME) | {"heartbeat_at"}
#: Stored as BSON, or as codec text (flag in ``_text``) when a key is not BSON-safe.
DATA_FIELDS = fields_of(Kind.DATA, Kind.DOC) | {"info", "commands"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def split_time(value: dt.datetime) -> tuple[dt.datetime, int]:
    """An aware datetime as (the same time truncated to milliseconds, microseconds left)."""
    value = value.astimezone(dt.UTC)
    micros = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - micros), micros


def time_filter(field: str, op: str, value: dt.datetime) -> dict[str, Any]:
    """An exact ``field <op> value`` filter (op ``$lt`` or ``$lte``) over the split form."""
    millis, micros = split_time(value)
    return {
        "$or": [
            {field: {"$lt": millis}},
            {field: millis, f"_us.{field}": {op: micros}},
        ]
    }


def _safe_keys(value: Any) -> bool:
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or "." in key or key.startswith("$") or "\x00" in key:
                return False
            if not _safe_keys(item):
                return False
    elif isinstance(value, list):
        return all(_safe_keys(item) for item in value)
    return True


def to_sets(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A ``$set`` document for ``changes`` (field names of a job or server document)."""
    sets: dict[str, Any] = {}
    for name, value in changes.items():
        if name in TIME_FIELDS:
            if value is None:
                sets[name], sets[f"_us.{name}"] = None, 0
            else:
                sets[name], sets[f"_us.{name}"] = split_time(value)
        elif name in DATA_FIELDS:
            text = not _safe_keys(value)
            sets[name] = codec.dumps(value) if text else value
            sets[f"_text.{name}"] = text
        else:
            sets[name] = value
    if "state" in changes:  # the singleton index's field (see rocketjob.store.mongodb.singleton)
        if changes["state"] in ("completed", "failed", "aborted"):
            sets["_active_key"] = None
        elif changes.get("singleton_key") is not None:
            sets["_active_key"] = changes["singleton_key"]
    return sets


def to_bson(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The stored form of a whole job (key ``id``) or server (key ``name``) document."""
    out: dict[str, Any] = {"_id": doc[key], "_us": {}, "_text": {}}
    for name, value in to_sets({k: v for k, v in doc.items() if k != key}).items():
        if name.startswith(("_us.", "_text.")):
            group, field = name.split(".", 1)
            out[group][field] = value
        else:
            out[name] = value
    return out


def _from_bson(raw: Mapping[str, Any], key: str, names: Any) -> dict[str, Any]:
    micros = raw.get("_us") or {}
    text = raw.get("_text") or {}
    doc: dict[str, Any] = {key: raw["_id"]}
    for name in names:
        if name == key:
            continue
        value = raw.get(name)
        if name in TIME_FIELDS and value is not None:
            value = value.astimezone(dt.UTC) + dt.timedelta(microseconds=micros.get(name, 0))
        elif name in DATA_FIELDS and text.get(name):
            value = codec.loads(value)
        doc[name] = value
    return doc


def _one_field(raw: Mapping[str, Any], name: str) -> Any:
    return _from_bson(raw, "id", [name])[name]


def job_from_bson(raw: Mapping[str, Any]) -> JobDoc:
    """A job document from its stored form. A value that cannot be read (a bad manual
    edit) makes a CorruptDoc (rocketjob.corrupt), never an exception. A document stored
    before ``crash_count`` existed reads it as 0."""
    try:
        doc = _from_bson(raw, "id", JOB_FIELDS)
        if doc["crash_count"] is None:
            doc["crash_count"] = 0
        return doc
    except Exception:  # decoded again field by field, keeping what cannot be read
        from rocketjob.corrupt import tolerant

        doc = codec.CorruptDoc()
        for name in JOB_FIELDS:
            one = {"_id": raw.get("_id"), name: raw.get(name), "_us": raw.get("_us"),
                   "_text": raw.get("_text")}  # fmt: skip
            value = tolerant(functools.partial(_one_field, name=name), one)
            if isinstance(value, codec.Undecodable):
                value = codec.Undecodable(raw.get(name), value.reason)
            doc[name] = value
        return doc


SERVER_NAMES = tuple(SERVER_FIELDS)


def server_from_bson(raw: Mapping[str, Any]) -> ServerDoc:
    """A server document from its stored form."""
    doc = _from_bson(raw, "name", SERVER_NAMES)
    doc["info"] = doc.get("info") or {}
    doc["commands"] = list(doc.get("commands") or [])
    return doc
