"""``rocketjob -c FILE``: run the supervisor daemon (``--check`` validates and exits).

The supervisor forks ``[supervisor] processes`` worker processes and owns the signals
(DESIGN §3). Exit codes: 0 stopped cleanly, 2 bad configuration, 3 a worker could not
import its job modules, 4 the store could not be reached at start-up.
"""

from __future__ import annotations

import argparse
import os
import sys

from rocketjob.cli.common import load_config
from rocketjob.control import ExitCode
from rocketjob.supervisor import Supervisor


def run(args: argparse.Namespace) -> int:
    """Validate the config, then supervise worker processes until stopped."""
    config = load_config(args, check_environment=True)
    if args.check:
        print(f"rocketjob: {config.path or 'default configuration'} is valid")
        return ExitCode.OK
    if os.getcwd() not in sys.path:  # job modules of the current project import as usual
        sys.path.insert(0, os.getcwd())
    return Supervisor(config).run()
