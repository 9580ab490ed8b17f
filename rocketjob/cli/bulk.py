"""``rocketjob jobs pause-all|resume-all|retry-all-failed|abort-all-failed CLASS``:
one event on every job of a class, through the state machine."""

from __future__ import annotations

import argparse
from typing import Any

from rocketjob.cli.common import connect, load_config
from rocketjob.control import ExitCode
from rocketjob.job import Job

#: command -> (from state, event)
BULK_ACTIONS = {
    "pause-all": ("queued", "pause"),
    "resume-all": ("paused", "resume"),
    "retry-all-failed": ("failed", "retry"),
    "abort-all-failed": ("failed", "abort"),
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the bulk actions to the ``jobs`` subcommands."""
    for action, (state, event) in BULK_ACTIONS.items():
        parser = sub.add_parser(action, help=f"{event} every {state} job of a class",
                                parents=[common])  # fmt: skip
        parser.add_argument("job_class", help="dotted path of the job class")
        parser.set_defaults(func=bulk_action, action=action)


def bulk_action(args: argparse.Namespace) -> int:
    """Fire the action's event on every matching job; print how many moved."""
    connect(load_config(args))
    state, event = BULK_ACTIONS[args.action]
    moved = Job.fire_all(state, event, job_class=args.job_class)
    print(f"{args.action}: {moved} {args.job_class} job(s) moved")
    return ExitCode.OK
