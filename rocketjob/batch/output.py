"""A batch job's output, in input order, read a page of slices at a time, and written to
``.csv``, ``.jsonl`` or ``.txt`` files (gzip-compressed when the name ends in ``.gz``)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from rocketjob import codec
from rocketjob.batch.fastjson import loads_list
from rocketjob.errors import ValidationError
from rocketjob.store.slices import SliceStore

#: Slices read per round trip while iterating the output.
PAGE_SLICES = 20
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
    """Columns from the first dict (a header row), or one column of plain values."""
    writer = csv.writer(out)
    columns: list[str] | None = None
    count = 0
    for value in values:
        if count == 0 and isinstance(value, dict):
            columns = [str(key) for key in value]
            writer.writerow(columns)
        if columns is not None and isinstance(value, dict):
            writer.writerow([_text(value.get(key)) for key in columns])
        else:
            writer.writerow([_text(value)])
        count += 1
    return count


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return orjson.dumps(codec.encode(value, "output")).decode()
    return str(value)
