"""``rocketjob servers ...``: list running servers and control them remotely.

::

    rocketjob servers list [--json]
    rocketjob servers pause|resume|stop|kill|thread-dump (NAME | --all)

Commands travel through the store; each server takes them within
``[worker] max_poll_seconds`` (2 s by default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from rocketjob.cli.common import connect, load_config
from rocketjob.control import ExitCode, ServerCommand
from rocketjob.server import Server


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``servers`` and its subcommands to the parser."""
    servers = commands.add_parser("servers", help="list and control servers", parents=[common])
    sub = servers.add_subparsers(title="servers commands", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list running servers", parents=[common])
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(func=list_servers)
    for command in ServerCommand:
        parser = sub.add_parser(command.value, help=f"{command} a server", parents=[common])
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("name", nargs="?", help="server name host:pid")
        target.add_argument("--all", action="store_true", help="every server")
        parser.set_defaults(func=command_servers, command=command)


def list_servers(args: argparse.Namespace) -> int:
    """Print every registered server."""
    store = connect(load_config(args))
    servers = Server.all(store)
    if args.json:
        print(json.dumps([server.to_dict() for server in servers], sort_keys=True))
        return ExitCode.OK
    now = dt.datetime.now(dt.UTC)
    print(f"{'NAME':32}  {'STATE':8}  {'BUSY':>9}  {'HEARTBEAT':>9}  STARTED")
    for server in servers:
        busy = f"{server.busy}/{server.threads}"
        if server.async_slots:  # the event loop's busy slots beside the threads
            busy += f" +{server.async_busy}/{server.async_slots}a"
        age = f"{server.heartbeat_age(now):.0f}s ago"
        started = server.started_at.isoformat()[:19]
        print(f"{server.name:32}  {server.state:8}  {busy:>9}  {age:>9}  {started}")
    return ExitCode.OK


def command_servers(args: argparse.Namespace) -> int:
    """Send a command to one server or to all of them."""
    store = connect(load_config(args))
    servers = Server.all(store)
    if not args.all:
        servers = [server for server in servers if server.name == args.name]
        if not servers:
            print(f"rocketjob: error: no server named {args.name!r}", file=sys.stderr)
            return ExitCode.FAILURE
    command: ServerCommand = args.command
    sent = [server.name for server in servers if server.send(command, store)]
    for name in sent:
        print(f"{command}: {name}")
    return ExitCode.OK
