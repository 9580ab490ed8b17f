"""A batch job's output, in input order, read a page of slices at a time, and written to
``.csv``, ``.jsonl`` or ``.txt`` files (gzip-compressed when the name ends in ``.gz``)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
from collections.abc import Iterator
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import orjson

from rocketjob import codec
from rocketjob.batch.fastjson import loads_list
from rocketjob.errors import ValidationError
from rocketjob.store.slices import SliceStore

#: Slices read per round trip while iterating the output.
PAGE_SLICES = 20
#: Values written to a CSV file per ``writerows``.
CHUNK = 1000
#: Types csv writes as :func:`_text` does (None as "", the others as ``str``).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_WRITABLE = "supported: .csv, .jsonl, .txt, each optionally ending in .gz"


def iter_output(store: SliceStore, job_id: str) -> Iterator[Any]:
    """Every value ``perform`` returned, in input order, one page of slices in memory."""
    after = 0
    while page := store.read_slices(job_id, after, PAGE_SLICES):
        for doc in page:
            if doc.get("output"):
                yield from loads_list(doc["output"])
        after = page[-1]["number"]


def writer_kind(path: Path) -> tuple[str, bool]:
    """``(format, gzip)`` of an output file name; ValidationError naming the supported ones."""
    name = path.name.lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    for kind in (".csv", ".jsonl", ".txt"):
        if name.endswith(kind):
            return kind, compressed
    raise ValidationError(f"{path.name}: unknown file extension; {_WRITABLE}")


def write_output(values: Iterator[Any], path: str | os.PathLike[str]) -> int:
    """Write ``values`` to ``path`` by its extension; return how many were written."""
    target = Path(path)
    kind, compressed = writer_kind(target)
    opened: IO[str] = (
        gzip.open(target, "wt", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
        if compressed
        else open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115
    )
    with opened as out:
        if kind == ".csv":
            return _write_csv(values, out)
        count = 0
        for value in values:
            if kind == ".jsonl":
                out.write(orjson.dumps(codec.encode(value, "output")).decode())
            else:
                out.write(_text(value))
            out.write("\n")
            count += 1
        return count


def _write_csv(values: Iterator[Any], out: IO[str]) -> int:
    """Columns from the first dict (a header row), or one column of plain values.
    Written a chunk at a time: a chunk of flat dicts (or values) of str, int, float,
    bool and None, which csv writes exactly as :func:`_text` would, goes through one
    ``writerows`` (C); any other chunk row by row."""
    writer = csv.writer(out)
    stream = iter(values)
    chunk = list(islice(stream, CHUNK))
    if not chunk:
        return 0
    columns = [str(key) for key in chunk[0]] if isinstance(chunk[0], dict) else None
    if columns is not None:
        writer.writerow(columns)
    count = 0
    while chunk:
        rows = _plain_rows(chunk, columns)
        if rows is None:
            rows = [_row(value, columns) for value in chunk]
        writer.writerows(rows)
        count += len(chunk)
        chunk = list(islice(stream, CHUNK))
    return count


def _plain_rows(chunk: list[Any], columns: list[str] | None) -> list[Any] | None:
    """The rows of ``chunk`` built in C, or None when it needs :func:`_row`."""
    if columns is None:
        return list(zip(chunk)) if set(map(type, chunk)) <= _PLAIN else None
    if set(map(type, chunk)) != {dict}:
        return None
    if not set(map(type, chain.from_iterable(map(dict.values, chunk)))) <= _PLAIN:
        return None
    get = itemgetter(*columns)
    try:
        found = list(map(get, chunk))
    except KeyError:  # a dict without one of the columns: an empty cell, by _row
        return None
    return found if len(columns) > 1 else list(zip(found))


def _row(value: Any, columns: list[str] | None) -> list[str]:
    if columns is not None and isinstance(value, dict):
        return [_text(value.get(key)) for key in columns]
    return [_text(value)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return orjson.dumps(codec.encode(value, "output")).decode()
    return str(value)
