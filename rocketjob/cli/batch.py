"""``rocketjob batch ...``: upload a file as a batch job, download its output, list its
failed records.

::

    rocketjob batch upload app.jobs.ImportUsers users.csv [--priority N]
    rocketjob batch download JOB_ID out.csv
    rocketjob batch failed JOB_ID [--json]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from rocketjob import codec
from rocketjob.batch import BatchJob
from rocketjob.cli.common import connect, load_config, to_json
from rocketjob.control import ExitCode
from rocketjob.errors import JobNotFound, ValidationError
from rocketjob.job import Job, resolve_class

#: Seconds between two progress lines on a terminal.
PROGRESS_SECONDS = 0.2


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``batch`` and its subcommands to the parser."""
    batch = commands.add_parser("batch", help="batch jobs: upload, download, failed records",
                                parents=[common])  # fmt: skip
    sub = batch.add_subparsers(title="batch commands", metavar="ACTION", required=True)
    upload = sub.add_parser("upload", help="store FILE as a new batch job of CLASS",
                            parents=[common])  # fmt: skip
    upload.add_argument("job_class", metavar="CLASS", help="dotted path of a BatchJob class")
    upload.add_argument("file", metavar="FILE", help=".csv, .jsonl or .txt (.gz, .zip)")
    upload.add_argument("--priority", type=int, help="1 (highest) .. 100")
    upload.set_defaults(func=upload_file)
    download = sub.add_parser("download", help="write a batch job's output to FILE",
                              parents=[common])  # fmt: skip
    download.add_argument("job_id", metavar="ID")
    download.add_argument("file", metavar="FILE", help=".csv, .jsonl or .txt (.gz)")
    download.set_defaults(func=download_output)
    failed = sub.add_parser("failed", help="list a batch job's failed records", parents=[common])
    failed.add_argument("job_id", metavar="ID")
    failed.add_argument("--json", action="store_true", help="one JSON object per record")
    failed.set_defaults(func=list_failed)


def _error(message: str, code: int = 1) -> int:
    print(f"rocketjob: error: {message}", file=sys.stderr)
    return code


def _batch_class(path: str) -> type[BatchJob] | None:
    cls = resolve_class(path)
    return cls if isinstance(cls, type) and issubclass(cls, BatchJob) else None


def upload_file(args: argparse.Namespace) -> int:
    """Store FILE as a new batch job; prints its id (progress on a terminal)."""
    connect(load_config(args))
    cls = _batch_class(args.job_class)
    if cls is None:
        return _error(f"{args.job_class} is not a BatchJob class that can be imported here; "
                      "give its dotted path (module.Class)", 2)  # fmt: skip
    options = {} if args.priority is None else {"priority": args.priority}
    progress = _progress() if sys.stderr.isatty() else None
    try:
        job = cls.upload(args.file, on_progress=progress, **options)
    except ValidationError as exc:
        return _error(str(exc), 2)
    if progress is not None:
        print(file=sys.stderr)
    print(f"uploaded: job {job.id}: {job.record_count} records in {job.slice_count} slices")
    return ExitCode.OK


def _progress() -> Callable[[int], None]:
    """A progress line on stderr, rewritten at most every PROGRESS_SECONDS."""
    started = last = time.monotonic()

    def show(records: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_SECONDS:
            last = now
            rate = records / max(now - started, 1e-9)
            print(f"\ruploading: {records:,} records ({rate:,.0f}/s)", end="", file=sys.stderr)

    return show


def _find(job_id: str) -> BatchJob:
    job = Job.find(job_id)
    if not isinstance(job, BatchJob):
        raise JobNotFound(f"job {job_id!r} is a {job.job_class}, not a batch job")
    return job


def download_output(args: argparse.Namespace) -> int:
    """Write the job's output to FILE in input order."""
    connect(load_config(args))
    try:
        count = _find(args.job_id).download(args.file)
    except JobNotFound as exc:
        return _error(str(exc))
    except ValidationError as exc:
        return _error(str(exc), 2)
    print(f"downloaded: {count} records to {args.file}")
    return ExitCode.OK


def list_failed(args: argparse.Namespace) -> int:
    """Print each failed record: its number, the record and the exception."""
    connect(load_config(args))
    try:
        failed = _find(args.job_id).failed_records()
    except JobNotFound as exc:
        return _error(str(exc))
    for number, record, error in failed:
        if args.json:
            encoded = codec.encode(record, "record")
            print(to_json({"number": number, "record": encoded, "exception": error.as_dict()}))
        else:
            print(f"{number}: {error.class_name}: {error.message}: {record!r}")
    return ExitCode.OK
