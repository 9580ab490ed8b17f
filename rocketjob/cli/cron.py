"""``rocketjob cron list``: each cron class of ``[worker] imports``, its schedule, its
next time and its scheduled instance."""

from __future__ import annotations

import argparse
from typing import Any

from rocketjob.cli.common import connect, load_config, to_json
from rocketjob.clock import utcnow
from rocketjob.control import ExitCode
from rocketjob.plugins import cron
from rocketjob.worker import import_job_modules, select_job_classes

ACTIVE = ["queued", "running", "paused"]


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``cron`` and its subcommands to the parser."""
    parser = commands.add_parser("cron", help="list cron job classes", parents=[common])
    sub = parser.add_subparsers(title="cron commands", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="cron classes, schedules and instances",
                             parents=[common])  # fmt: skip
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=list_cron)


def cron_rows() -> list[dict[str, Any]]:
    """One row per imported cron class: class, schedule, next time, instance."""
    now = utcnow()
    rows = []
    for cls in cron.cron_classes(select_job_classes((), ())):
        jobs = cls.where(ACTIVE, limit=1)
        instance = jobs[0] if jobs else None
        rows.append({
            "job_class": cls._job_class_path, "cron_schedule": cls.cron_schedule,
            "next_time": cron.next_run_at(cls, now),
            "instance_id": instance.id if instance else None,
            "instance_state": str(instance.state) if instance else None,
            "instance_run_at": instance.run_at if instance else None,
        })  # fmt: skip
    return rows


def list_cron(args: argparse.Namespace) -> int:
    """Print the cron classes (from ``-c FILE``'s ``[worker] imports``)."""
    config = load_config(args)
    import_job_modules(config.worker.imports)
    connect(config)
    rows = cron_rows()
    if args.json:
        print("[" + ",\n ".join(to_json(row) for row in rows) + "]")
        return ExitCode.OK
    print(f"{'CLASS':40}  {'SCHEDULE':28}  {'NEXT TIME':25}  INSTANCE")
    for row in rows:
        instance = (
            f"{row['instance_id']} {row['instance_state']} run_at "
            f"{row['instance_run_at'].isoformat() if row['instance_run_at'] else '-'}"
            if row["instance_id"]
            else "none (created at the next worker boot)"
        )
        print(f"{row['job_class']:40}  {row['cron_schedule']:28}  "
              f"{row['next_time'].isoformat():25}  {instance}")  # fmt: skip
    return ExitCode.OK
