"""``rocketjob -c FILE``: run the daemon (``--check`` validates and exits)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from rocketjob.cli.common import connect, load_config
from rocketjob.worker import Worker


def run(args: argparse.Namespace) -> int:
    """Validate the config, connect the store, boot a worker and run it until stopped."""
    config = load_config(args)
    if args.check:
        print(f"rocketjob: {config.path or 'default configuration'} is valid")
        return 0
    if os.getcwd() not in sys.path:  # job modules of the current project import as usual
        sys.path.insert(0, os.getcwd())
    connect(config)
    worker = Worker(config)
    install_signals(worker)
    worker.boot()
    return worker.run()


def install_signals(worker: Worker) -> None:
    """Signal handlers only queue a request; the worker's loop acts on it."""
    interrupts = [0]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            interrupts[0] += 1
            worker.request("drain" if interrupts[0] == 1 else "stop_now")
        else:
            worker.request(_REQUESTS[signal.Signals(signum)])

    for signum in (*_REQUESTS, signal.SIGINT):
        signal.signal(signum, on_signal)


_REQUESTS = {
    signal.SIGTERM: "drain",
    signal.SIGQUIT: "stop_now",
    signal.SIGTSTP: "pause",
    signal.SIGCONT: "resume",
    signal.SIGUSR2: "thread_dump",
}
