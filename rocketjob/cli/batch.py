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
    progress = Progress() if sys.stderr.isatty() else None
    try:
        job = cls.upload(args.file, on_progress=progress, **options)
    except ValidationError as exc:
        if progress is not None and progress.shown:
            print(file=sys.stderr)  # the error on a line of its own
        return _error(str(exc), 2)
    if progress is not None:
        progress.finish(job.record_count)
    print(f"uploaded: job {job.id}: {job.record_count} records in {job.slice_count} slices")
    return ExitCode.OK


class Progress:
    """The upload's progress on stderr (a terminal): one line, rewritten at most every
    PROGRESS_SECONDS, and its final state (records, rate, seconds) when it is done."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = self.last = clock()
        self.shown = False

    def __call__(self, records: int) -> None:
        now = self.clock()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self._show("uploading", records, now, end="")

    def finish(self, records: int) -> None:
        """The final line: every record uploaded."""
        self._show("uploaded", records, self.clock(), end="\n")

    def _show(self, what: str, records: int, now: float, end: str) -> None:
        took = max(now - self.started, 1e-9)
        line = f"\r{what}: {records:,} records ({records / took:,.0f}/s, {took:.1f} s)\x1b[K"
        print(line, end=end, file=sys.stderr, flush=True)
        self.shown = True


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
