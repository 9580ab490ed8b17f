"""``rocketjob web``: serve Mission Control, or make a password hash for ``[[web.users]]``.

::

    rocketjob web -c FILE [--bind 127.0.0.1:8080]
    rocketjob web hash-password            # reads the password from stdin or a prompt
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from rocketjob.cli.common import load_config
from rocketjob.control import ExitCode
from rocketjob.errors import ConfigError
from rocketjob.log import logger, setup_logging


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``web`` and ``web hash-password`` to the parser."""
    web = commands.add_parser("web", help="serve Mission Control, the web UI", parents=[common])
    web.add_argument("--bind", metavar="HOST:PORT", help="listen here (default [web] bind)")
    web.set_defaults(func=serve)
    sub = web.add_subparsers(title="web commands", metavar="ACTION")
    hasher = sub.add_parser(
        "hash-password", help="print a scrypt hash for [[web.users]] password_hash"
    )
    hasher.set_defaults(func=hash_password)


def serve(args: argparse.Namespace) -> int:
    """Validate the config, refuse an unauthenticated non-loopback bind, run uvicorn."""
    from rocketjob.config.web import is_loopback, parse_bind

    config = load_config(args)
    web = config.web
    bind = args.bind or web.bind
    host, port = parse_bind(bind, "--bind" if args.bind else "web.bind")
    if not is_loopback(host) and not web.auth_configured:
        raise ConfigError(
            f"web.bind: refusing to serve Mission Control on {bind} without authentication; "
            "add [[web.users]] (see `rocketjob web hash-password`) or web.proxy_auth_header, "
            "or bind to 127.0.0.1"
        )
    try:
        import uvicorn

        from rocketjob.web import create_app
    except ImportError as exc:
        raise ConfigError(
            f"Mission Control needs the web extra: pip install 'rocketjob[web]' ({exc})"
        ) from exc
    if os.getcwd() not in sys.path:  # job modules of the current project import as usual
        sys.path.insert(0, os.getcwd())
    handle = setup_logging(  # the daemon's appenders and format (a worker's: threaded)
        config.logging.level, config.appenders, role="worker",
        stdlib_level=config.logging.stdlib_level, close_timeout=config.logging.close_timeout,
    )  # fmt: skip
    try:
        app = create_app(config)
        logger.info("mission control serving", url=f"http://{bind}/")
        # log_config=None: uvicorn's own loggers go through the stdlib handler that
        # setup_logging installed, so they come out in the same format as ours.
        # proxy_headers off: the peer address must be the socket's, never X-Forwarded-For
        # (trusted_proxies and login throttling rely on it; rocketjob.web.proxy reads it).
        uvicorn.run(app, host=host, port=port, log_config=None, log_level="warning",
                    server_header=False, proxy_headers=False)  # fmt: skip
    finally:
        handle.close()
    return ExitCode.OK


def hash_password(args: argparse.Namespace) -> int:
    """Read a password (stdin when piped, else a prompt asked twice) and print its hash."""
    from rocketjob.web.passwords import hash_password as make_hash

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("rocketjob: error: the passwords differ", file=sys.stderr)
            return ExitCode.USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("rocketjob: error: empty password", file=sys.stderr)
        return ExitCode.USAGE
    print(make_hash(password))
    return ExitCode.OK
