"""``rocketjob jobs ...``: list, show and act on jobs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rocketjob.cli import bulk, show
from rocketjob.cli.common import connect, load_config, to_json
from rocketjob.clock import utcnow
from rocketjob.control import ExitCode
from rocketjob.errors import InvalidTransition, JobNotFound
from rocketjob.job import Job

ACTIONS = ("retry", "pause", "resume", "abort", "destroy", "run-now")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``jobs`` and its subcommands to the parser."""
    jobs = commands.add_parser("jobs", help="list, show and act on jobs", parents=[common])
    sub = jobs.add_subparsers(title="jobs commands", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list jobs", parents=[common])
    listing.add_argument("--state", action="append", help="only this state (repeatable)")
    listing.add_argument("--class", dest="job_class", help="only this job class (dotted path)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=list_jobs)
    show = sub.add_parser("show", help="show one job", parents=[common])
    show.add_argument("job_id")
    show.add_argument("--json", action="store_true", help="print job.status() as JSON")
    show.set_defaults(func=show_job)
    for action in ACTIONS:
        parser = sub.add_parser(action, help=f"{action} a job", parents=[common])
        parser.add_argument("job_id")
        parser.set_defaults(func=act_on_job, action=action)
    bulk.register(sub, common)


def list_jobs(args: argparse.Namespace) -> int:
    """Print jobs, newest first; queued jobs no live server can run are flagged."""
    store = connect(load_config(args))
    jobs = Job.where(args.state, args.job_class, limit=args.limit, descending=True)
    runnable = _runnable_classes(store)
    rows = []
    for job in jobs:
        status = job.status()
        status["runnable"] = not job.queued or runnable is None or job.job_class in runnable
        rows.append(status)
    if args.json:
        print("[" + ",\n ".join(to_json(row) for row in rows) + "]")
        return ExitCode.OK
    print(show.list_header())
    for row in rows:
        flag = "" if row["runnable"] else "  (no live server runs this class)"
        if row.get("corrupt"):
            flag = f"  (corrupt: {row['corrupt']})"
        print(show.list_row(row) + flag)
    return ExitCode.OK


def _runnable_classes(store: Any) -> set[str] | None:
    servers = store.list_servers()
    classes: set[str] = set()
    for server in servers:
        classes.update(server.get("info", {}).get("job_classes", []))
    return classes


def show_job(args: argparse.Namespace) -> int:
    """Print every field of one job: aligned and readable, or ``job.status()`` as JSON
    with ``--json``."""
    connect(load_config(args))
    try:
        job = Job.find(args.job_id)
    except JobNotFound as exc:
        print(f"rocketjob: error: {exc}", file=sys.stderr)
        return ExitCode.FAILURE
    status = job.status()
    if args.json:
        print(to_json(status))
        return ExitCode.OK
    for line in show.show_lines(status, utcnow()):
        print(line)
    return ExitCode.OK


def act_on_job(args: argparse.Namespace) -> int:
    """Fire an event on one job through its state machine."""
    connect(load_config(args))
    try:
        job = Job.find(args.job_id)
        if args.action == "destroy":
            job.destroy()
        else:
            getattr(job, args.action.replace("-", "_"))()
    except (JobNotFound, InvalidTransition) as exc:
        print(f"rocketjob: error: {exc}", file=sys.stderr)
        return ExitCode.FAILURE
    outcome = "destroyed" if args.action == "destroy" else job.state
    print(f"{args.action}: job {args.job_id} is now {outcome}")
    return ExitCode.OK
