"""The ``rocketjob`` command.

::

    rocketjob -c conf/development.toml            run the daemon
    rocketjob -c conf/development.toml --check    validate the configuration and exit
    rocketjob --version                           print the installed version
    rocketjob jobs list [--state S] [--class C] [--json]
    rocketjob jobs show|retry|pause|resume|abort|destroy|run-now ID
    rocketjob batch upload CLASS FILE [--priority N] | download ID FILE | failed ID [--json]

Exit codes (:class:`rocketjob.control.ExitCode`): 0 ok; 2 usage or configuration error; 3 a
job module failed to import at boot; 4 the store cannot be reached at start-up; 141 the
output pipe was closed (`| head`), quietly. Every error exit prints one line.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rocketjob.cli import batch, cron, daemon, dirmon, jobs, servers, web
from rocketjob.control import ExitCode
from rocketjob.errors import ConfigError, JobImportError, StoreUnavailable

#: Subcommand registrars: each adds its parser and sets ``func``.
COMMANDS: list[Callable[[Any, argparse.ArgumentParser], None]] = [
    jobs.register,
    servers.register,
    web.register,
    cron.register,
    dirmon.register,
    batch.register,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="TOML configuration file (store, worker, logging)",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="rocketjob",
        description="High-performance, reliable background jobs. With no command, "
        "run the daemon: `rocketjob -c FILE` starts the supervisor and its worker processes.",
        epilog="Run `rocketjob COMMAND --help` for a command's options.",
        parents=[common],
    )
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument("--version", action="version", version=version_line())
    # No ``config=None`` default here: set_defaults would also change the default of the
    # ``-c`` action the subcommands share (argparse copies parents' actions by reference),
    # so each subcommand would reset a ``-c FILE`` given before it to None (issue 16).
    # ``load_config`` reads the attribute with getattr.
    parser.set_defaults(func=daemon.run)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(commands, common)
    return parser


def version_line() -> str:
    """``rocketjob X.Y.Z``: the version of the installed distribution (its metadata), or
    the package's own ``__version__`` when run from a source tree that is not installed."""
    try:
        version = importlib.metadata.version("rocketjob")
    except importlib.metadata.PackageNotFoundError:
        from rocketjob import __version__ as version
    return f"rocketjob {version}"


def fail(message: str, code: int) -> int:
    """Print one clear error line and return the exit code."""
    print(f"rocketjob: error: {message}", file=sys.stderr)
    return code


def quiet_broken_pipe() -> int:
    """The reader of our output went away (``rocketjob jobs list | head``): exit at once
    and quietly, as ``cat`` does, with 141 (128 + SIGPIPE). stdout is pointed at
    /dev/null so the interpreter's final flush cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return ExitCode.BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rocketjob`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return quiet_broken_pipe()
    except ConfigError as exc:
        return fail(str(exc), ExitCode.USAGE)
    except JobImportError as exc:
        return fail(str(exc), ExitCode.IMPORT)
    except StoreUnavailable as exc:
        return fail(str(exc), ExitCode.STORE)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
