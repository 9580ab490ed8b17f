"""Reading a batch job's input as a stream of records, and cutting it into slices.

A path is read by its extension: ``.csv`` (a header row, then one dict per row),
``.jsonl`` (one JSON value per line), ``.txt`` (one str per line), each optionally
compressed as ``.gz`` or ``.zip`` (the archive's first file) and decompressed while it is
read. Anything else iterable is taken as the records themselves. Nothing is read twice
and nothing is held whole: memory stays bounded by one slice.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from itertools import islice, repeat
from pathlib import Path
from typing import IO, Any, cast

import orjson

from rocketjob.batch.fastjson import dumps_list, dumps_rows
from rocketjob.errors import ValidationError
from rocketjob.store.slices import NewSlice

#: Record formats by extension, and the compressions that may wrap them.
FORMATS = (".csv", ".jsonl", ".txt")
COMPRESSIONS = (".gz", ".zip")
_SUPPORTED = "supported: .csv, .jsonl, .txt, each optionally ending in .gz or .zip"

Source = str | os.PathLike[str] | Iterable[Any]


def is_path(source: object) -> bool:
    """Whether ``source`` names a file (a str or a path object)."""
    return isinstance(source, str | os.PathLike)


def split_name(name: str) -> tuple[str | None, str | None]:
    """``(format, compression)`` of a file name, each None when it has none we know."""
    lower = name.lower()
    compression = next((c for c in COMPRESSIONS if lower.endswith(c)), None)
    if compression is not None:
        lower = lower[: -len(compression)]
    kind = next((f for f in FORMATS if lower.endswith(f)), None)
    return kind, compression


def format_of(name: str) -> tuple[str, str | None]:
    """``(format, compression)`` of ``name``; ValidationError naming the supported ones."""
    kind, compression = split_name(name)
    if kind is None and compression != ".zip":  # a .zip may name its format inside
        raise ValidationError(f"{name}: unknown file extension; {_SUPPORTED}")
    return kind or "", compression


def read_records(source: Source, stack: ExitStack) -> Iterable[Any]:
    """The records of ``source`` (a path or an iterable); files are closed by ``stack``."""
    if not is_path(source):
        if not isinstance(source, bytes | dict):
            try:
                return iter(source)  # type: ignore[arg-type]
            except TypeError:
                pass
        raise ValidationError(
            f"upload needs a file path or an iterable of records, got {type(source).__name__}"
        )
    path = Path(os.fspath(source))  # type: ignore[arg-type]
    kind, compression = format_of(path.name)
    try:
        raw, kind = _open(path, kind, compression, stack)
    except (OSError, zipfile.BadZipFile) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValidationError(f"cannot read {path}: {reason}") from None
    text = stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    readers: dict[str, Callable[[IO[str], str], Iterable[Any]]] = {
        ".csv": CsvRecords, ".jsonl": _jsonl_records, ".txt": _txt_records,
    }  # fmt: skip
    return readers[kind](text, str(path))


def _open(
    path: Path, kind: str, compression: str | None, stack: ExitStack
) -> tuple[IO[bytes], str]:
    """The decompressed byte stream of ``path`` and its record format."""
    if compression == ".gz":
        unzipped = stack.enter_context(gzip.open(path, "rb"))  # noqa: SIM115 (closed by stack)
        return cast("IO[bytes]", unzipped), kind
    if compression == ".zip":
        archive = stack.enter_context(zipfile.ZipFile(path))
        members = [info for info in archive.infolist() if not info.is_dir()]
        if not members:
            raise ValidationError(f"{path}: the archive holds no file")
        inner = kind or split_name(members[0].filename)[0]
        if inner is None:
            raise ValidationError(f"{path}: {members[0].filename}: unknown extension; {_SUPPORTED}")
        return stack.enter_context(archive.open(members[0])), inner
    return stack.enter_context(open(path, "rb")), kind


class CsvRecords:
    """The records of a CSV file: iterated, one dict per row (column -> str); a
    :class:`Slicer` takes :meth:`rows` instead, lists stored with the header once per
    slice (:func:`rocketjob.batch.fastjson.dumps_rows`)."""

    def __init__(self, text: IO[str], where: str) -> None:
        self.reader = csv.reader(text)
        self.where = where
        self.header: list[str] = next(self.reader, [])

    def rows(self) -> Iterator[list[str]]:
        """Each row as a list, blank lines skipped; a row of the wrong width is a
        ValidationError naming its line."""
        reader, width = self.reader, len(self.header)
        if not width:
            return
        for row in reader:
            if len(row) != width:
                if not row:
                    continue  # a blank line
                raise ValidationError(
                    f"{self.where}: line {reader.line_num}: {len(row)} fields, but the header "
                    f"has {width}; fix that line (nothing was stored)"
                )
            yield row

    def __iter__(self) -> Iterator[dict[str, str]]:
        return map(dict, map(zip, repeat(self.header), self.rows()))


def _jsonl_records(text: IO[str], where: str) -> Iterator[Any]:
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(
                f"{where}: line {number}: not JSON ({exc}); fix that line (nothing was stored)"
            ) from None


def _txt_records(text: IO[str], where: str) -> Iterator[str]:
    for line in text:
        yield line.rstrip("\r\n")


class Slicer:
    """Cuts records into slices of ``size`` as they stream by, and counts them."""

    def __init__(self, size: int, on_progress: Callable[[int], None] | None = None) -> None:
        self.size = size
        self.records = 0
        self.slices = 0
        self.on_progress = on_progress

    def slices_of(self, records: Iterable[Any]) -> Iterator[NewSlice]:
        """The slices of ``records``, numbered from 1; the counts grow as they go."""
        if isinstance(records, CsvRecords):
            yield from self._csv_slices(records)
            return
        stream = iter(records)
        while chunk := list(islice(stream, self.size)):
            yield self._slice(chunk, self._text(chunk))

    def _csv_slices(self, records: CsvRecords) -> Iterator[NewSlice]:
        rows, header = records.rows(), records.header
        while chunk := list(islice(rows, self.size)):
            text = dumps_rows(header, chunk)
            if text is None:  # a value the codec must escape: the dicts, through it
                text = self._text(list(map(dict, map(zip, repeat(header), chunk))))
            yield self._slice(chunk, text)

    def _text(self, chunk: list[Any]) -> str:
        try:
            return dumps_list(chunk, "record")
        except ValidationError as exc:
            first = self.records + 1
            raise ValidationError(
                f"records {first}..{first + len(chunk) - 1}: {exc} (nothing was stored)"
            ) from None

    def _slice(self, chunk: list[Any], text: str) -> NewSlice:
        first = self.records + 1
        self.slices += 1
        self.records += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.records)
        return NewSlice(self.slices, first, len(chunk), text)
