"""What a forked worker process runs, from just after ``fork()`` to ``os._exit``.

Order matters: reset the supervisor's signal handlers and close its descriptors while
signals are still blocked, set up logging, install the worker's own handlers, *then*
unblock, boot (import job modules, open the store, register the server), tell the
supervisor it is ready through the ready pipe, and run until stopped.
"""

from __future__ import annotations

import contextlib
import faulthandler
import mmap
import os
import signal
import traceback

from rocketjob import runboard
from rocketjob.config import Config
from rocketjob.errors import JobImportError, StoreUnavailable
from rocketjob.log import logger
from rocketjob.runboard import RunBoard
from rocketjob.supervisor import logs, notify, signals
from rocketjob.worker import Worker, install_signal_handlers

EXIT_CRASH, EXIT_IMPORT, EXIT_STORE = 1, 3, 4


def main(
    config: Config,
    number: int,
    ready_fd: int,
    close_fds: list[int],
    queue: signals.SignalQueue | None,
    pause_flag: mmap.mmap | None = None,
    board: RunBoard | None = None,
) -> None:
    """Run one worker process and exit with its code; never returns. Its last words (why
    it exits: the exception and backtrace) go on its run board before it ends, where the
    supervisor reads them; a fatal signal's Python stack goes to stderr (faulthandler)."""
    code = EXIT_CRASH
    runboard.install(board, config.worker.timeout_grace)
    faulthandler.enable(all_threads=True)
    try:
        signals.reset_in_child(queue)
        _close(close_fds)
        notify.clean_child_environment()
        handle = logs.setup(config, role="worker")
        worker = Worker(
            config, number=number, log_handle=handle, parent_pid=os.getppid(),
            pause_flag=pause_flag,
        )  # fmt: skip
        worker.paused = bool(pause_flag and pause_flag[0])
        install_signal_handlers(worker)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals.HANDLED)
        code = _boot_and_run(worker, ready_fd)
        handle.close()
    except BaseException as exc:  # the process boundary: report and exit non-zero
        try:
            if board is not None:  # synchronous: delivered even though we exit at once
                board.write_last_words("".join(traceback.format_exception(exc)))
            logger.opt(exception=exc).error("worker crashed", error=repr(exc))
        finally:
            os._exit(EXIT_CRASH)
    os._exit(code)


def _boot_and_run(worker: Worker, ready_fd: int) -> int:
    """Boot, report ready (or why not) on the pipe, run; return the exit code."""
    try:
        worker.boot()
    except JobImportError as exc:
        _report(ready_fd, f"E{exc}")
        return EXIT_IMPORT
    except StoreUnavailable as exc:
        _report(ready_fd, f"Eworker {worker.number}: {exc}")
        return EXIT_STORE
    except Exception as exc:
        _report(ready_fd, f"Eworker {worker.number} could not boot: {exc!r}")
        raise
    _report(ready_fd, "R")
    return worker.run()


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode())
    finally:
        os.close(fd)


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
