"""``rocketjob dirmon add|list|enable|disable|remove``: manage dirmon entries."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rocketjob.cli.common import connect, load_config, to_json
from rocketjob.control import ExitCode
from rocketjob.errors import ValidationError
from rocketjob.plugins.dirmon_entries import DirmonEntry


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``dirmon`` and its subcommands to the parser."""
    parser = commands.add_parser("dirmon", help="manage dirmon entries", parents=[common])
    sub = parser.add_subparsers(title="dirmon commands", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add an entry", parents=[common])
    add.add_argument("name")
    add.add_argument("pattern", help="absolute glob, e.g. '/data/in/*.csv'")
    add.add_argument("job_class", help="dotted path of the job class started per file")
    add.add_argument("--archive", dest="archive_directory", help="archive directory")
    add.add_argument("--property", action="append", default=[], metavar="KEY=JSON",
                     help="a field value for each job (repeatable)")  # fmt: skip
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    add.set_defaults(func=add_entry)
    listing = sub.add_parser("list", help="list entries", parents=[common])
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=list_entries)
    for action in ("enable", "disable", "remove"):
        one = sub.add_parser(action, help=f"{action} an entry", parents=[common])
        one.add_argument("name")
        one.set_defaults(func=act_on_entry, action=action)


def _properties(pairs: list[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--property {pair!r}: expected KEY=VALUE")
        try:
            properties[key] = json.loads(value)
        except ValueError:
            properties[key] = value  # a plain string
    return properties


def add_entry(args: argparse.Namespace) -> int:
    """Create an entry (checked against ``[dirmon] roots``)."""
    config = load_config(args)
    connect(config)
    try:
        entry = DirmonEntry.create(
            args.name, args.pattern, args.job_class, args.archive_directory,
            _properties(args.property), enabled=not args.disabled, roots=config.dirmon.roots,
        )  # fmt: skip
    except ValidationError as exc:
        print(f"rocketjob: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"dirmon entry {entry['name']!r} added: {entry['pattern']} -> {entry['job_class']}")
    return ExitCode.OK


def list_entries(args: argparse.Namespace) -> int:
    """Print every entry."""
    connect(load_config(args))
    entries = DirmonEntry.all()
    if args.json:
        print("[" + ",\n ".join(to_json(entry) for entry in entries) + "]")
        return ExitCode.OK
    print(f"{'NAME':20}  {'ON':3}  {'PATTERN':40}  {'CLASS':30}  LAST ERROR")
    for e in entries:
        print(f"{e['name']:20}  {'yes' if e['enabled'] else 'no':3}  {e['pattern']:40}  "
              f"{e['job_class']:30}  {e['last_error'] or '-'}")  # fmt: skip
    return ExitCode.OK


def act_on_entry(args: argparse.Namespace) -> int:
    """Enable, disable or remove one entry."""
    connect(load_config(args))
    if not getattr(DirmonEntry, args.action)(args.name):
        print(f"rocketjob: error: no dirmon entry named {args.name!r}", file=sys.stderr)
        return ExitCode.FAILURE
    print(f"dirmon entry {args.name!r}: {args.action}d")
    return ExitCode.OK
